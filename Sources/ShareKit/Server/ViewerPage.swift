/// The viewer page and its assets: a small HTML page, its script and its style sheet.
///
/// No external resources and no inline script, so that a strict Content-Security-Policy can be sent.
package struct ViewerPage: Sendable {
    package let html: String
    /// Seconds between updates, as the page asks for them.
    package let interval: Double
    package static let script = viewerScript
    package static let styleSheet = viewerStyleSheet

    /// The page for a share called `name` on `host`, refreshing every `interval` seconds.
    package init(name: String, host: String, interval: Double) {
        self.interval = interval
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
            <main id="stage">
            <img id="screen" src="/screen.png" alt="\(Self.escape("Screen of \(name), shared from \(host)"))" \
            title="Click or press 1 to switch between fit to window and actual size">
            </main>
            <footer id="bar">
            <p id="status" role="status" aria-live="polite"><span id="name">\(Self.escape(name))</span> \
            <span id="state"></span></p>
            <div id="controls">
            <button id="actual" type="button" aria-pressed="false" title="Actual size (1)">1:1</button>
            <button id="fullscreen" type="button" title="Full screen (F)">Full screen</button>
            </div>
            </footer>
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
    html, body { margin: 0; height: 100%; background: #111; color: #f2f2f2; font: 14px/1.4 system-ui, sans-serif; }
    #stage { position: fixed; inset: 0 0 44px 0; display: flex; align-items: center; justify-content: center;
             overflow: hidden; }
    #screen { max-width: 100%; max-height: 100%; object-fit: contain; cursor: zoom-in; }
    body.actual #stage { display: block; overflow: auto; -webkit-overflow-scrolling: touch; }
    body.actual #screen { max-width: none; max-height: none; cursor: zoom-out; }
    #bar { position: fixed; left: 0; right: 0; bottom: 0; height: 44px; display: flex; align-items: center;
           justify-content: space-between; gap: 8px; padding: 0 8px; background: #000; }
    #status { margin: 0; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
    #name { font-weight: 600; }
    body.lost #state, body.ended #state { color: #ffc9bd; }
    #controls { display: flex; gap: 6px; flex: none; }
    button { min-width: 44px; min-height: 36px; padding: 0 12px; border: 1px solid #777; border-radius: 6px;
             background: #222; color: #f2f2f2; font: inherit; cursor: pointer; }
    button:hover, button:focus-visible { background: #333; outline: 2px solid #8ab4ff; outline-offset: 1px; }
    button[aria-pressed="true"] { background: #3a4a6a; }
    body.no-fullscreen #fullscreen { display: none; }
    :fullscreen #bar { opacity: 0.85; }

    """

private let viewerScript = """
    // The viewer: each frame is loaded off-screen and swapped in once decoded, so nothing ever flickers. The
    // next request goes out one interval after the last answer, so a slow link never piles requests up, and an
    // unchanged frame costs a 304. A long poll of /status hears at once when the presenter stops sharing. While
    // the tab is hidden nothing is requested at all.
    (function () {
      'use strict';
      var interval = Math.max(100, Number(document.body.dataset.interval) * 1000 || 1000);
      var body = document.body;
      var screen = document.getElementById('screen');
      var state = document.getElementById('state');
      var actualButton = document.getElementById('actual');
      var fullscreenButton = document.getElementById('fullscreen');
      var etag = null, objectURL = null, timer = null, failures = 0, updatedAt = Date.now();
      var mode = 'live', statusRequest = null, statusTimer = null;

      function show(text) {
        state.textContent = text;
        body.classList.toggle('lost', mode === 'lost');
        body.classList.toggle('ended', mode === 'ended');
      }
      function describe() {
        if (mode === 'ended') return show('· presenter stopped sharing');
        if (mode === 'lost') return show('· connection lost — retrying');
        var age = Math.max(0, Math.round((Date.now() - updatedAt) / 1000));
        show('· updated ' + age + ' s ago');
      }
      function schedule(delay) {
        clearTimeout(timer);
        timer = setTimeout(poll, delay);
      }
      // Fitted to the window, no more pixels are needed than the device's screen has (CSS pixels times
      // devicePixelRatio, the longer side so that turning a phone needs no new size); the server rounds up to
      // a standard width and sends the full frame when that is not smaller. Actual size asks for the full frame.
      function source() {
        if (body.classList.contains('actual')) return '/screen.png';
        var device = window.screen || {};
        var longest = Math.max(device.width || 0, device.height || 0) * (window.devicePixelRatio || 1);
        return longest > 0 ? '/screen.png?width=' + Math.min(16384, Math.ceil(longest)) : '/screen.png';
      }
      function poll() {
        if (document.hidden) return;
        fetch(source(), { cache: 'no-cache' }).then(function (response) {
          if (response.status === 410) { mode = 'ended'; return null; }
          // 401: the share is locked and this browser's session is gone (share restarted): ask for the PIN.
          if (response.status === 401) { location.replace('/'); return new Promise(function () {}); }
          if (!response.ok) throw new Error('HTTP ' + response.status);
          var tag = response.headers.get('ETag');
          if (tag !== null && tag === etag) return 'same';
          return response.blob().then(function (blob) {
            var next = URL.createObjectURL(blob);
            var pending = new Image();
            pending.src = next;
            return pending.decode().then(function () {
              screen.src = next;
              if (objectURL) URL.revokeObjectURL(objectURL);
              objectURL = next;
              etag = tag;
              return 'new';
            });
          });
        }).then(function (result) {
          if (mode === 'ended' && result === null) {
            describe();
            schedule(5000);  // keep an eye out: a restarted share resumes on its own
            return;
          }
          if (mode !== 'live') watchStatus();
          mode = 'live';
          failures = 0;
          updatedAt = Date.now();
          describe();
          schedule(interval);
        }, function () {
          failures += 1;
          if (mode !== 'ended') mode = 'lost';
          describe();
          schedule(Math.min(interval * Math.pow(2, failures), 15000));
        });
      }
      function watchStatus() {
        if (statusRequest || document.hidden || !window.AbortController) return;
        statusRequest = new AbortController();
        fetch('/status?wait=25', { cache: 'no-store', signal: statusRequest.signal }).then(function (response) {
          return response.json();
        }).then(function (answer) {
          statusRequest = null;
          if (answer.state === 'ended') {
            mode = 'ended';
            describe();
            schedule(5000);
          } else {
            watchStatus();
          }
        }, function () {
          statusRequest = null;
          clearTimeout(statusTimer);
          if (!document.hidden) statusTimer = setTimeout(watchStatus, 3000);
        });
      }
      function stopStatus() {
        clearTimeout(statusTimer);
        if (statusRequest) { statusRequest.abort(); statusRequest = null; }
      }

      function toggleActualSize() {
        var actual = body.classList.toggle('actual');
        actualButton.setAttribute('aria-pressed', actual ? 'true' : 'false');
        if (mode === 'live') schedule(0);  // the other size at once
      }
      var root = document.documentElement;
      var enterFullscreen = root.requestFullscreen || root.webkitRequestFullscreen;
      var exitFullscreen = document.exitFullscreen || document.webkitExitFullscreen;
      function toggleFullscreen() {
        if (document.fullscreenElement || document.webkitFullscreenElement) {
          exitFullscreen.call(document);
        } else if (enterFullscreen) {
          var result = enterFullscreen.call(root);
          if (result && result.catch) result.catch(function () {});
        }
      }
      if (!enterFullscreen) body.classList.add('no-fullscreen');
      screen.addEventListener('click', toggleActualSize);
      actualButton.addEventListener('click', toggleActualSize);
      fullscreenButton.addEventListener('click', toggleFullscreen);
      document.addEventListener('keydown', function (event) {
        if (event.ctrlKey || event.metaKey || event.altKey) return;
        if (event.key === '1' || event.key === 'z') { toggleActualSize(); event.preventDefault(); }
        if (event.key === 'f' || event.key === 'F') { toggleFullscreen(); event.preventDefault(); }
      });

      document.addEventListener('visibilitychange', function () {
        if (document.hidden) {
          clearTimeout(timer);
          stopStatus();
        } else {
          schedule(0);
          watchStatus();
        }
      });
      setInterval(function () { if (!document.hidden) describe(); }, 1000);
      screen.addEventListener('load', function once() {
        screen.removeEventListener('load', once);
        updatedAt = Date.now();
      });
      describe();
      schedule(interval);
      watchStatus();
    })();

    """
