"""The kit's own failures, each with an exit code and a sentence on how to fix it.

Exit codes (documented in `mpkit --help`): 0 success, 1 a check, a transform or a request failed,
2 the manifest or the command line is wrong, 3 Docker is unavailable, 4 a build failed,
5 the container failed to start or answer, 6 an AWS call failed, 7 publish refused to go on,
8 SageMaker's validation of the model package failed, 9 the listing's lint or the Catalog
rejected the listing, 10 the buyer cannot use the package (not subscribed, other Region),
70 an internal fault of mpkit's own, 130 interrupted.
"""

from __future__ import annotations

EXIT_CODES_HELP = """exit codes:
  0  success
  1  a check failed (validate), a transform file failed (transform-local),
     or the model answered with an error (predict)
  2  bad manifest or arguments (the message names the file, line and field)
  3  no Docker engine reachable
  4  the image or its inputs could not be built
  5  the container did not start or did not answer
  6  an AWS call failed after retries (the message names the call and AWS's error code)
  7  publish stopped before creating the package: a preflight rule, an image scan finding,
     or changed inputs under a version that is already published
  8  the model package was created and SageMaker's validation of it failed
  9  the listing's lint failed, or AWS Marketplace rejected the change set
 10  the buyer's account cannot use the model package: not subscribed, or the ARN
     is for another Region
 70  an internal error in mpkit (one line on stderr; the traceback is written to a file it names)
130  interrupted (Ctrl-C)"""

INTERNAL_ERROR = 70  # EX_SOFTWARE (sysexits.h)
INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class MpkitError(Exception):
    exit_code = 1
    hint = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigurationError(MpkitError):
    exit_code = 2


class DockerUnavailable(MpkitError):
    exit_code = 3
    hint = ("start the engine (on these machines: scripts/setup.sh, or `dockerd &`), "
            "or point DOCKER_HOST at a running one")


class BuildError(MpkitError):
    exit_code = 4


class ContainerError(MpkitError):
    exit_code = 5


class AwsError(MpkitError):
    exit_code = 6

    def __init__(self, message: str, hint: str | None = None, *, code: str = "", operation: str = ""):
        super().__init__(message, hint)
        self.code = code
        self.operation = operation


class PublishRefused(MpkitError):
    exit_code = 7


class PackageFailed(MpkitError):
    exit_code = 8


class ListingRejected(MpkitError):
    exit_code = 9


class NotSubscribed(MpkitError):
    exit_code = 10
