import CPNG

/// Decodes a PNG with libpng's simplified API into 8-bit RGB, the reference the tests compare against.
func decodePNG(_ bytes: [UInt8]) throws -> (width: Int, height: Int, rgb: [UInt8]) {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    guard bytes.withUnsafeBytes({ png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }) != 0 else {
        throw EnvironmentError(description: "libpng cannot read this PNG")
    }
    image.format = UInt32(PNG_FORMAT_RGB)
    let width = Int(image.width)
    let height = Int(image.height)
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    let finished = rgb.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
    png_image_free(&image)
    guard finished != 0 else { throw EnvironmentError(description: "libpng failed to decode this PNG") }
    return (width, height, rgb)
}
