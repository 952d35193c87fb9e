"""A job's unexpected end is one line on stderr, with its details in the debug log."""

from __future__ import annotations

import logging

from houseprice import joblog


def test_a_failure_is_one_line_with_its_hint(capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    try:
        raise RuntimeError("MLflow said no\n" + "<html>" * 500)
    except RuntimeError as error:
        code = joblog.fail(error, logging.getLogger("promotion"), then="; the next run retries")
    assert code == 1
    err = capsys.readouterr().err
    assert err == "error: RuntimeError: MLflow said no; the next run retries\n"
    assert "Traceback" in caplog.text  # the whole story stays in the debug log


def test_an_interruption_says_so_without_a_hint(capsys) -> None:
    assert joblog.fail(KeyboardInterrupt(), logging.getLogger("training"), then="; x") == 1
    assert capsys.readouterr().err == "error: interrupted\n"
