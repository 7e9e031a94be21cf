"""The audit hook put into the image's Python under `validate` (as sitecustomize.py on a
read-only mount ahead of the image's own PYTHONPATH). It reports, once each, every name the
server resolves and every address it connects to outside loopback, and every installer it
runs, on stderr with the prefix below; the container's network is off, so these are the calls
that fail under SageMaker too (aws/amazon-sagemaker-examples#2995). The image's own
sitecustomize, if it has one, still runs after the hook is in place."""

PREFIX = "mpkit-egress:"

SITECUSTOMIZE = r'''
import sys

_seen = set()
_local = {"", "localhost", "127.0.0.1", "0.0.0.0", "::", "::1", "ip6-localhost"}
_installers = ("pip", "pip3", "conda", "mamba", "apt", "apt-get", "curl", "wget", "git")


def _say(what):
    if what not in _seen:
        _seen.add(what)
        try:
            sys.stderr.write("PREFIX " + what + "\n")
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


sys.addaudithook(_hook)


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


_chain()
'''.replace("PREFIX", PREFIX)


def events(logs: str) -> list[str]:
    seen = []
    for line in logs.splitlines():
        if PREFIX in line:
            event = line.split(PREFIX, 1)[1].strip()
            if event not in seen:
                seen.append(event)
    return seen
