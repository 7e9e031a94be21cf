"""The sidecar's relay, run inside a second container that joins the target's network namespace
(docker_engine.Sidecar starts it as `python3 -u -c <this file> PORT`). It relays to 127.0.0.1:PORT
over two channels: a Unix socket in /mpkit-relay (plain HTTP, bytes copied by the kernel) when the
host mounted that folder, and requests as JSON lines on stdin, answered as JSON lines on stdout.

It runs on the image's own Python with nothing but the standard library, and imports nothing of
mpkit: it is sent as source text.
"""

import base64
import http.client
import json
import os
import socket
import sys
import threading
import time

RELAY_FOLDER = "/mpkit-relay"
SOCKET_NAME = "http.sock"
RELAY_ERROR_HEADER = "X-Mpkit-Relay-Error"  # on the relay's own answer when it could not connect
_lock = threading.Lock()


def pump(src, dst):
    """Copy one direction of a connection until it closes, then half-close the other side. When
    the far side stops reading (a server that answers 413 at once and closes without reading the
    body, as nginx and Flask do), the rest is read and dropped, so that the sender is never left
    blocked and reads the early answer the way a client on a real network would."""
    try:
        while True:
            data = src.recv(262144)
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                while src.recv(262144):
                    pass
                break
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def relay_socket(path, port):
    server = socket.socket(socket.AF_UNIX)
    server.bind(path + ".tmp")
    os.chmod(path + ".tmp", 0o777)
    # The host waits for the name: it appears only once the socket listens.
    os.rename(path + ".tmp", path)
    server.listen(128)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", port))
        except OSError as exc:
            # Said in the one header the host looks for, so that "nothing listens" is told apart
            # from a server that accepted and dropped the connection.
            reason = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " ")
            try:
                client.sendall(f"HTTP/1.1 502 Bad Gateway\r\n{RELAY_ERROR_HEADER}: {reason}\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
            except OSError:
                pass
            client.close()
            continue
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def handle(request, out=None):
    """One JSON-line request: {id, method, path, headers, body (base64), port, timeout}."""
    out = out or sys.stdout
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", request["port"], timeout=request["timeout"])
        try:
            conn.request(request["method"], request["path"], body=base64.b64decode(request["body"]),
                         headers=request["headers"])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before it read the whole body, and closed: read that answer
        response = conn.getresponse()
        data = response.read()
        answer = {"status": response.status, "headers": dict(response.getheaders()), "body": base64.b64encode(data).decode()}
        conn.close()
    except Exception as exc:  # every failure is an answer: the host waits for one per request
        answer = {"error": type(exc).__name__ + ": " + str(exc)}
    answer["id"] = request["id"]
    answer["elapsed"] = time.monotonic() - started
    with _lock:
        out.write(json.dumps(answer) + "\n")
        out.flush()


def main(argv):
    port = int(argv[0])
    if os.path.isdir(RELAY_FOLDER):
        threading.Thread(target=relay_socket, args=(os.path.join(RELAY_FOLDER, SOCKET_NAME), port), daemon=True).start()
    for line in sys.stdin:
        threading.Thread(target=handle, args=(json.loads(line),), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
