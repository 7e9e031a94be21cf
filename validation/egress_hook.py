"""The egress audit hook, mounted into the image as `sitecustomize.py` under `mpkit validate`
(validation/egress_audit.py says why). It runs on the image's own Python with nothing but the
standard library; imported under any other name (a test, the host) it installs nothing.
"""

import sys

PREFIX = "mpkit-egress:"

_seen = set()
_local = {"", "localhost", "127.0.0.1", "0.0.0.0", "::", "::1", "ip6-localhost"}
_installers = ("pip", "pip3", "conda", "mamba", "apt", "apt-get", "curl", "wget", "git")


def _say(what):
    if what not in _seen:
        _seen.add(what)
        try:
            sys.stderr.write(PREFIX + " " + what + "\n")
            sys.stderr.flush()
        except Exception:
            pass


def _hook(event, args):
    try:
        if event == "socket.getaddrinfo" or event == "socket.gethostbyname":
            host = args[0]
            host = host.decode() if isinstance(host, bytes) else host
            if host is not None and str(host) not in _local and not str(host).startswith("127."):
                _say("resolve " + str(host))
        elif event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and str(address[0]) not in _local and not str(address[0]).startswith("127."):
                _say("connect %s:%s" % (address[0], address[1]))
        elif event == "urllib.Request":
            _say("url " + str(args[0]))
        elif event == "subprocess.Popen":
            argv = args[1] if isinstance(args[1], (list, tuple)) else [str(args[1])]
            words = " ".join(str(a) for a in argv).split()
            if any(w.rsplit("/", 1)[-1] in _installers for w in words[:3]) or " -m pip" in " ".join(words):
                _say("run " + " ".join(words)[:200])
    except Exception:
        pass


def _chain():
    # This file shadows any sitecustomize the image has of its own; find that one further along
    # sys.path and run it, so the server starts as it would without the audit.
    import importlib.machinery
    import importlib.util
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.origin and os.path.abspath(spec.origin) != os.path.abspath(__file__):
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if __name__ == "sitecustomize":
    sys.addaudithook(_hook)
    _chain()
