"""The Windows Job Object that makes every Codex die with its server (terminal/jobs.py): the structure's layout and
the calls, against a fake kernel32 that keeps what the Win32 documentation says (CreateJobObjectW: a new, unnamed
job, NULL on failure; SetInformationJobObject with JobObjectExtendedLimitInformation (9): the size must be the
structure's; AssignProcessToJobObject: the process joins; a job with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE ends its
members when its last handle closes). Never run on Windows itself."""

from __future__ import annotations

import ctypes
import logging
import struct

import pytest

from codex_mcp.terminal import jobs

CURRENT_PROCESS = 0xFFFFFFFFFFFFFFFF  # GetCurrentProcess's pseudo-handle, (HANDLE)-1, as ctypes returns it


class FakeKernel32:
    def __init__(self, *, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.jobs: dict[int, dict[str, object]] = {}
        self.closed: list[int] = []
        self.calls: list[str] = []

    def CreateJobObjectW(self, attributes: object, name: object) -> int:  # noqa: N802
        self.calls.append("create")
        if self.refuse == "create":
            return 0
        handle = 0x100 + 4 * len(self.jobs)
        self.jobs[handle] = {"limits": 0, "members": [], "inheritable": attributes is not None, "name": name}
        return handle

    def SetInformationJobObject(self, job: int, info_class: int, info: object, size: int) -> int:  # noqa: N802
        self.calls.append("limits")
        if self.refuse == "limits" or info_class != 9 or size != ctypes.sizeof(jobs.ExtendedLimitInformation):
            return 0
        raw = ctypes.string_at(ctypes.addressof(info._obj), size)  # type: ignore[attr-defined]
        self.jobs[job]["limits"] = jobs.ExtendedLimitInformation.from_buffer_copy(raw).BasicLimitInformation.LimitFlags
        return 1

    def AssignProcessToJobObject(self, job: int, process: int) -> int:  # noqa: N802
        self.calls.append("assign")
        if self.refuse == "assign":
            return 0
        members = self.jobs[job]["members"]
        assert isinstance(members, list)
        members.append(process)
        return 1

    def GetCurrentProcess(self) -> int:  # noqa: N802
        return CURRENT_PROCESS

    def CloseHandle(self, handle: int) -> int:  # noqa: N802
        self.closed.append(handle)
        return 1


def test_the_limit_structure_has_the_windows_layout() -> None:
    size = ctypes.sizeof(jobs.ExtendedLimitInformation)
    assert size == (144 if struct.calcsize("P") == 8 else 112), "winnt.h: 144 bytes on 64-bit Windows, 112 on 32-bit"
    assert jobs.ExtendedLimitInformation.BasicLimitInformation.offset == 0
    assert jobs.BasicLimitInformation.LimitFlags.offset == 16
    assert jobs.kill_on_close_limits().BasicLimitInformation.LimitFlags == 0x2000


def test_the_server_joins_a_kill_on_close_job_and_keeps_its_handle() -> None:
    kernel32 = FakeKernel32()
    job = jobs.join_kill_on_close_job(kernel32)
    assert job is not None
    assert kernel32.calls == ["create", "limits", "assign"], "the limit is set before anyone is in the job"
    assert kernel32.jobs[job] == {"limits": 0x2000, "members": [CURRENT_PROCESS], "inheritable": False, "name": None}
    assert kernel32.closed == [], "closing the handle would end every Codex at once"


@pytest.mark.parametrize("refuse", ["create", "limits", "assign"])
def test_a_refused_job_is_said_and_the_server_still_starts(refuse: str, caplog: pytest.LogCaptureFixture) -> None:
    kernel32 = FakeKernel32(refuse=refuse)
    with caplog.at_level(logging.WARNING, logger="codex_mcp.terminal.jobs"):
        assert jobs.join_kill_on_close_job(kernel32) is None
    assert "a killed server may leave Codex running" in caplog.text
    if refuse != "create":
        assert kernel32.closed == list(kernel32.jobs), "a job we could not use is not left open"


def test_elsewhere_binding_is_a_no_op() -> None:
    jobs.bind_children_to_this_process()  # Linux: the PTY's hang-up does it; nothing to call, nothing raised
    assert jobs._JOB is None
