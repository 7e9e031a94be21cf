"""The egress recorder: a program of the standard library alone, sent as source text and run in a
container of its own (networking off) whose loopback-only network namespace the image under
test then joins, so that any process in the image, not only Python, is seen reaching out.

It answers every DNS query on 127.0.0.1:53 (UDP) with 127.0.0.1, so that a program that looks
a name up goes on to connect, and accepts connections on the ports downloads use, on the same
loopback, closing each at once. Each event is one line on stdout: `mpkit-egress-dns NAME TYPE`
or `mpkit-egress-connect PORT`. Nothing leaves the namespace: it has no other interface.
"""

import socket
import struct
import sys
import threading

# ftp, ssh, http, https, rsync, git: ports a download uses and a model server does not serve on.
PORTS = (21, 22, 80, 443, 873, 9418)
DNS_PREFIX = "mpkit-egress-dns"
CONNECT_PREFIX = "mpkit-egress-connect"
READY = "mpkit-egress-ready"
_lock = threading.Lock()


def say(line):
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def question(packet):
    """(name, type, end offset of the question) of a DNS query."""
    labels, pos = [], 12
    while pos < len(packet):
        size = packet[pos]
        if size == 0:
            pos += 1
            break
        labels.append(packet[pos + 1:pos + 1 + size].decode("ascii", "replace"))
        pos += 1 + size
    qtype = struct.unpack("!H", packet[pos:pos + 2])[0] if pos + 2 <= len(packet) else 0
    return ".".join(labels), qtype, pos + 4


def own(name):
    """A lookup that is not egress: the namespace's own host name (Python's http.server asks for
    it), or the name of a loopback address."""
    name = name.lower().rstrip(".")
    host = socket.gethostname().lower()
    loopback_v6 = "1." + "0." * 31 + "ip6.arpa"
    return (name in ("", "localhost", host, loopback_v6) or name.startswith(host + ".")
            or name.endswith(".127.in-addr.arpa"))


def answer(packet):
    """The reply: 127.0.0.1 for an A query, no records for any other."""
    name, qtype, end = question(packet)
    if not own(name):
        say(f"{DNS_PREFIX} {name or '.'} {qtype}")
    records = 1 if qtype == 1 else 0
    header = packet[:2] + struct.pack("!HHHHH", 0x8180, 1, records, 0, 0)
    body = packet[12:end]
    if records:
        body += struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton("127.0.0.1")
    return header + body


def dns(server):
    while True:
        packet, client = server.recvfrom(4096)
        if len(packet) >= 12:
            try:
                server.sendto(answer(packet), client)
            except (IndexError, struct.error, OSError):
                pass


def accept(server, port):
    while True:
        conn, _ = server.accept()
        say(f"{CONNECT_PREFIX} {port}")
        conn.close()


def main():
    # Everything is bound before READY is said: the image starts only after it.
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 53))
    threading.Thread(target=dns, args=(udp,), daemon=True).start()
    for port in PORTS:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(64)
        threading.Thread(target=accept, args=(server, port), daemon=True).start()
    say(READY)
    threading.Event().wait()


if __name__ == "__main__":
    main()
