/// The viewer page and its assets: a small HTML page, its script and its style sheet.
///
/// No external resources and no inline script, so that a strict Content-Security-Policy can be sent.
package struct ViewerPage: Sendable {
    package let html: String
    package static let script = viewerScript
    package static let styleSheet = viewerStyleSheet

    /// The page for a share called `name` on `host`, refreshing every `interval` seconds.
    package init(name: String, host: String, interval: Double) {
        let title = "\(name) — screen shared from \(host)"
        // The no-JavaScript fallback reloads the whole page; meta refresh takes whole seconds.
        let refresh = max(1, Int(interval.rounded(.up)))
        html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(Self.escape(title))</title>
            <link rel="icon" href="data:,">
            <link rel="stylesheet" href="/viewer.css">
            <noscript><meta http-equiv="refresh" content="\(refresh)"></noscript>
            <script src="/viewer.js" defer></script>
            </head>
            <body data-interval="\(interval)">
            <main>
            <img id="screen" src="/screen.png" alt="\(Self.escape("Screen of \(name), shared from \(host)"))">
            </main>
            <p id="status" role="status"><span id="name">\(Self.escape(name))</span> <span id="state"></span></p>
            </body>
            </html>

            """
    }

    /// Escapes text for use in HTML content and quoted attributes.
    package static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

private let viewerStyleSheet = """
    html, body { margin: 0; height: 100%; background: #111; color: #e8e8e8; font: 14px/1.4 system-ui, sans-serif; }
    main { position: fixed; inset: 0; display: flex; align-items: center; justify-content: center; }
    #screen { max-width: 100%; max-height: 100%; object-fit: contain; }
    #status { position: fixed; left: 8px; bottom: 8px; margin: 0; padding: 2px 8px; border-radius: 4px;
              background: rgba(0, 0, 0, 0.7); font-size: 12px; }
    #status.lost #state { color: #ffb4a8; }

    """

private let viewerScript = """
    // Loads each frame off-screen and swaps it in once decoded: no flicker. The next request goes out one
    // interval after the last answer, so a slow link never piles requests up. An unchanged frame is a 304.
    (function () {
      'use strict';
      var interval = Math.max(100, Number(document.body.dataset.interval) * 1000 || 1000);
      var screen = document.getElementById('screen');
      var state = document.getElementById('state');
      var status = document.getElementById('status');
      var etag = null, objectURL = null, timer = null, failures = 0, updatedAt = Date.now();

      function show(text, lost) {
        state.textContent = text;
        status.className = lost ? 'lost' : '';
      }
      function schedule(delay) {
        clearTimeout(timer);
        timer = setTimeout(poll, delay);
      }
      function poll() {
        if (document.hidden) return;
        fetch('/screen.png', { cache: 'no-cache' }).then(function (response) {
          if (!response.ok) throw new Error('HTTP ' + response.status);
          var tag = response.headers.get('ETag');
          if (tag !== null && tag === etag) return null;
          return response.blob().then(function (blob) {
            var next = URL.createObjectURL(blob);
            var pending = new Image();
            pending.src = next;
            return pending.decode().then(function () {
              screen.src = next;
              if (objectURL) URL.revokeObjectURL(objectURL);
              objectURL = next;
              etag = tag;
            });
          });
        }).then(function () {
          failures = 0;
          updatedAt = Date.now();
          show('· live', false);
          schedule(interval);
        }, function () {
          failures += 1;
          show('· connection lost — retrying', true);
          schedule(Math.min(interval * Math.pow(2, failures), 15000));
        });
      }
      setInterval(function () {
        if (failures > 0 || document.hidden) return;
        var age = Math.round((Date.now() - updatedAt) / 1000);
        if (age >= Math.max(3, 3 * interval / 1000)) show('· updated ' + age + ' s ago', false);
      }, 1000);
      document.addEventListener('visibilitychange', function () {
        if (document.hidden) clearTimeout(timer); else schedule(0);
      });
      schedule(interval);
    })();

    """
