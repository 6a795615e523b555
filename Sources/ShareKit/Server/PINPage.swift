/// The page a viewer of a locked share sees until they have entered the PIN: one field and one button.
///
/// No script at all, and a style sheet of its own (`/pin.css`), so it is sent with a CSP as strict as the
/// viewer's. The form sends the PIN as `GET /?pin=…`, which sets the session cookie and redirects to `/`, so the
/// PIN does not stay in the address bar or the history.
package enum PINPage {
    /// The page's policy: its own style sheet, a form that may only go back to this share, nothing else.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; "
        + "frame-ancestors 'none'"

    /// The page for a share called `name` on `host`, with a line saying what went wrong, if anything.
    /// `digitsOnly` brings up a phone's number pad; a PIN with letters gets the full keyboard.
    static func html(name: String, host: String, problem: String?, digitsOnly: Bool = true) -> String {
        let keyboard = digitsOnly ? "inputmode=\"numeric\"" : "inputmode=\"text\" autocapitalize=\"off\""
        let title = "\(name) — screen shared from \(host)"
        let problemLine = problem.map { "<p id=\"problem\" role=\"alert\">\(ViewerPage.escape($0))</p>\n" } ?? ""
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="no-referrer">
            <title>\(ViewerPage.escape(title))</title>
            <link rel="icon" href="data:,">
            <link rel="stylesheet" href="/pin.css">
            </head>
            <body>
            <main>
            <h1>\(ViewerPage.escape(name))</h1>
            <p>This screen share is locked. Enter the PIN the presenter gave you.</p>
            \(problemLine)<form method="get" action="/">
            <label for="pin">PIN</label>
            <input id="pin" name="pin" type="password" \(keyboard) autocomplete="off" autofocus required \
            maxlength="64">
            <button type="submit">Watch</button>
            </form>
            </main>
            </body>
            </html>

            """
    }

    static let styleSheet = """
        html, body { margin: 0; min-height: 100%; background: #111; color: #f2f2f2;
                     font: 16px/1.5 system-ui, sans-serif; }
        main { max-width: 22em; margin: 12vh auto 0; padding: 0 16px; }
        h1 { font-size: 1.4em; margin: 0 0 0.5em; overflow-wrap: anywhere; }
        #problem { color: #ffc9bd; }
        form { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
        label { flex-basis: 100%; font-weight: 600; }
        input { flex: 1; min-width: 8em; min-height: 40px; padding: 0 10px; border: 1px solid #777;
                border-radius: 6px; background: #222; color: #f2f2f2; font: inherit; letter-spacing: 0.2em; }
        button { min-height: 40px; padding: 0 16px; border: 1px solid #777; border-radius: 6px; background: #3a4a6a;
                 color: #f2f2f2; font: inherit; cursor: pointer; }
        input:focus-visible, button:focus-visible { outline: 2px solid #8ab4ff; outline-offset: 1px; }

        """
}
