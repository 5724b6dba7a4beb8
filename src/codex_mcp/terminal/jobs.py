"""Windows: no Codex outlives its server, even a server killed outright (Task Manager, TerminateProcess, a client
that gives up on it). POSIX gets this from the PTY (the kernel hangs up the session when the server's end closes)
and from process groups; Windows has neither, and a killed process runs no clean-up of its own.

So at start the server puts itself into a Job Object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE ("causes all
processes associated with the job to terminate when the last handle to the job is closed", JOBOBJECT_BASIC_LIMIT_
INFORMATION in the Win32 documentation). Every process it starts afterwards (Codex through ConPTY, the console
host, Codex's own children, git, `codex review`) is born in the job (a child joins its parent's job unless it is
created with CREATE_BREAKAWAY_FROM_JOB, which neither pywinpty nor asyncio asks for). The only handle to the job is
the server's, not inheritable, so when the server dies for any reason the system closes it and ends them all.
Jobs nest since Windows 8, so a client that keeps its own servers in a job (as some terminals do) is no obstacle.

The Win32 calls sit behind ``Kernel32`` so that what can run here does: the structure's layout and the order of
the calls are tested on Linux with a fake that keeps what the documentation says.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import Protocol

log = logging.getLogger(__name__)

JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
"""JobObjectExtendedLimitInformation in the JOBOBJECTINFOCLASS enumeration."""


class BasicLimitInformation(ctypes.Structure):
    """JOBOBJECT_BASIC_LIMIT_INFORMATION (winnt.h)."""

    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class IoCounters(ctypes.Structure):
    """IO_COUNTERS (winnt.h)."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "ReadOperationCount",
            "WriteOperationCount",
            "OtherOperationCount",
            "ReadTransferCount",
            "WriteTransferCount",
            "OtherTransferCount",
        )
    ]


class ExtendedLimitInformation(ctypes.Structure):
    """JOBOBJECT_EXTENDED_LIMIT_INFORMATION (winnt.h): 144 bytes on 64-bit Windows, 112 on 32-bit."""

    _fields_ = [
        ("BasicLimitInformation", BasicLimitInformation),
        ("IoInfo", IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


class Kernel32(Protocol):
    """The four kernel32 calls this needs (each returns 0 on failure, as Win32 BOOL and HANDLE calls do)."""

    def CreateJobObjectW(self, attributes: object, name: object) -> int: ...  # noqa: N802

    def SetInformationJobObject(self, job: int, info_class: int, info: object, size: int) -> int: ...  # noqa: N802

    def AssignProcessToJobObject(self, job: int, process: int) -> int: ...  # noqa: N802

    def GetCurrentProcess(self) -> int: ...  # noqa: N802

    def CloseHandle(self, handle: int) -> int: ...  # noqa: N802


def kill_on_close_limits() -> ExtendedLimitInformation:
    """The job's one limit: end every member when the last handle to the job closes."""
    info = ExtendedLimitInformation()
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    return info


def _last_error() -> int:
    get = getattr(ctypes, "get_last_error", None)  # Windows only
    return int(get()) if get is not None else 0


def join_kill_on_close_job(kernel32: Kernel32) -> int | None:
    """Put this process into a new kill-on-close job; the job's handle (kept open for the life of the process:
    closing it would end every Codex at once), or None when the system refused (logged: Codex processes then
    outlive a server that is killed outright, though a server that exits still ends them itself)."""
    job = kernel32.CreateJobObjectW(None, None)  # no name; NULL security attributes: not inheritable
    if not job:
        log.warning("could not create a Job Object (error %d): a killed server may leave Codex running", _last_error())
        return None
    info = kill_on_close_limits()
    if not kernel32.SetInformationJobObject(
        job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS, ctypes.byref(info), ctypes.sizeof(info)
    ) or not kernel32.AssignProcessToJobObject(job, kernel32.GetCurrentProcess()):
        log.warning(
            "could not put codex-mcp in a kill-on-close Job Object (error %d): a killed server may leave Codex running",
            _last_error(),
        )
        kernel32.CloseHandle(job)
        return None
    return job


_JOB: int | None = None
"""The job's handle, held until the process ends."""


def _kernel32() -> Kernel32:
    """kernel32 with each call's types declared: a HANDLE is pointer-sized, and ctypes' default (a C int) would cut
    GetCurrentProcess's pseudo-handle, (HANDLE)-1, to 32 bits."""
    if sys.platform != "win32":
        raise OSError("kernel32 is Windows'")
    lib = ctypes.WinDLL("kernel32", use_last_error=True)
    handle, boolean = ctypes.c_void_p, ctypes.c_int
    lib.CreateJobObjectW.argtypes, lib.CreateJobObjectW.restype = [ctypes.c_void_p, ctypes.c_wchar_p], handle
    lib.SetInformationJobObject.argtypes = [handle, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
    lib.SetInformationJobObject.restype = boolean
    lib.AssignProcessToJobObject.argtypes, lib.AssignProcessToJobObject.restype = [handle, handle], boolean
    lib.GetCurrentProcess.argtypes, lib.GetCurrentProcess.restype = [], handle
    lib.CloseHandle.argtypes, lib.CloseHandle.restype = [handle], boolean
    kernel32: Kernel32 = lib
    return kernel32


def bind_children_to_this_process() -> None:
    """On Windows, make every process started from now on die with this one (see the module's docstring); a no-op
    elsewhere, where the PTY's hang-up and process groups do it."""
    global _JOB
    if sys.platform != "win32" or _JOB is not None:
        return
    _JOB = join_kill_on_close_job(_kernel32())
