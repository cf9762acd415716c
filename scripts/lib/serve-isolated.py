"""Serve a directory on 127.0.0.1 with cross-origin isolation headers.

    python3 scripts/lib/serve-isolated.py DIR PORT

Like `python3 -m http.server --bind 127.0.0.1 --directory DIR PORT`, plus
`Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`,
which make the page cross-origin isolated: only then does `performance.now()` have
microsecond resolution instead of 100 us, which the browser benchmark's latencies need.
"""
import functools
import http.server
import sys


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args):
        pass


def main():
    directory, port = sys.argv[1], int(sys.argv[2])
    handler = functools.partial(IsolatedHandler, directory=directory)
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
