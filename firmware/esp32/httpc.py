# A small HTTP/1.1 client over sockets: the same on an ESP32 and on the unix port.
import json
import socket

try:
    import ssl
except ImportError:
    ssl = None


def tls(sock, host):
    if hasattr(ssl, "SSLContext"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_NONE  # no CA bundle on the device: pin the server in config
        return ctx.wrap_socket(sock, server_hostname=host)
    return ssl.wrap_socket(sock, server_hostname=host)


def split_url(url):
    scheme, _, rest = url.partition("://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    port = int(port) if port else (443 if scheme == "https" else 80)
    return scheme, host, port, "/" + path


def request(method, url, body=None, headers=None, timeout=5, sink=None):
    """Return (status, body bytes); with ``sink`` the body is passed to sink(chunk) instead."""
    scheme, host, port, path = split_url(url)
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (host, port), "Connection: close"]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines.append("Content-Length: %d" % len(data))
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    s = socket.socket()
    try:
        s.settimeout(timeout)
        s.connect(addr)
        if scheme == "https":
            s = tls(s, host)
        s.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.read(256)
            if not chunk:
                raise OSError("connection closed before the answer")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        out = []
        got = 0
        chunk = rest
        while True:
            if chunk:
                got += len(chunk)
                if sink:
                    sink(chunk)
                else:
                    out.append(chunk)
            if length is not None and got >= length:
                break
            chunk = s.read(1024)
            if not chunk:
                break
        return status, b"".join(out)
    finally:
        s.close()
