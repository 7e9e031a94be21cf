import io
import logging
import time

from inference_image.request_log import BatchedHandler


def _logger(handler, name):
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_quiet_server_writes_each_line_at_once():
    out = io.StringIO()
    log = _logger(BatchedHandler(out, interval_s=0.2), "t.quiet")
    log.info("one")
    assert out.getvalue() == "one\n"


def test_under_load_lines_are_batched_then_flushed_by_count_and_by_time():
    out = io.StringIO()
    handler = BatchedHandler(out, interval_s=0.3, max_lines=5)
    log = _logger(handler, "t.load")
    log.info("first")  # goes at once, and starts the interval
    for i in range(3):
        log.info("line %d", i)
    assert out.getvalue() == "first\n"  # held
    log.info("line 3")
    log.info("line 4")  # the fifth pending line: flushed by count
    assert out.getvalue().count("\n") == 6
    log.info("tail")
    deadline = time.monotonic() + 3
    while "tail" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.getvalue().endswith("tail\n")  # the flusher thread wrote it


def test_a_warning_flushes_everything_before_it_in_order():
    out = io.StringIO()
    log = _logger(BatchedHandler(out, interval_s=60), "t.warn")
    log.info("a")
    log.info("b")
    log.warning("c")
    assert out.getvalue() == "a\nb\nc\n"


def test_the_fast_request_line_reads_as_the_logging_format_writes_it():
    import re

    from inference_image.request_log import FastLine
    from inference_image.server import LOG_FORMAT

    out = io.StringIO()
    handler = BatchedHandler(out, interval_s=0.0)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    FastLine(handler, "mpkit.request").write("request id=1 status=200")
    _logger(handler, "mpkit.request").info("request id=1 status=200")
    fast, slow = out.getvalue().splitlines()
    shape = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO mpkit\.request: request id=1 status=200"
    assert re.fullmatch(shape, fast) and re.fullmatch(shape, slow) and fast[:16] == slow[:16]
