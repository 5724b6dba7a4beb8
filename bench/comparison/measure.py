"""The sections of a run, each measuring into Results: per-turn latency at 1/20/50 turns of history (section_turns),
a new conversation's first reply (section_start), idle sessions, memory and throughput (section_scale), and Codex
settings (section_variants); measure runs them all in order."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import signal
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from codex_mcp.codex.rollout import find_rollout
from codex_mcp.session.screen import Screen
from codex_mcp.storage.store import Store

from .lab import PLAIN_TITLE, Lab, count_requests, log, prompt
from .methods import AppServer, ExecMethod, McpMethod, TuiMethod, TuiSession, TurnSample
from .probes import children, cpu_ms, memory_kb, rollout_durations, rollout_turn_times
from .results import DEPTHS, FIRST_CALL_AFTER_S, METHODS, Plan, Results, VariantResult

GAP_S = 0.1
"""Pause after every measured turn, so work a method does after its turn does not land in the next one."""


def timed_ms(fn: Callable[[], object], n: int) -> float:
    """Median wall time of n calls, ms."""
    times = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def server_costs(screen: Screen, state_dir: Path, conversation_id: str, scratch: Path) -> dict[str, float]:
    """Two things our server does, timed alone on this machine: rendering the whole screen (only for a reader; a
    resize to the same size makes lines() render again instead of answering from its cache) and saving the
    conversation (once per turn)."""

    def render() -> None:
        screen.resize(*screen.size)
        screen.lines()

    costs = {"lines_ms": timed_ms(render, 30)}
    loaded = Store(state_dir).load(conversation_id)
    if loaded is not None:
        record = loaded[0]
        store = Store(scratch)
        costs["save_ms"] = timed_ms(lambda: store.save(record), 20)
        costs["save_turns"] = len(record.turns)
    return costs


async def gather_in_batches(jobs: Sequence[Callable[[], Awaitable[None]]], size: int) -> None:
    """Run jobs concurrently, at most size at a time."""
    for i in range(0, len(jobs), size):
        async with anyio.create_task_group() as tg:
            for job in jobs[i : i + size]:
                tg.start_soon(_await, job)


async def _await(job: Callable[[], Awaitable[None]]) -> None:
    await job()


@dataclass
class TurnsRun:
    """What section_turns works with: the four methods, the thread each built per history depth, and the TUI
    that holds each depth's thread (the tui method measures on it)."""

    plan: Plan
    res: Results
    mcp: McpMethod
    tui: TuiMethod
    app: AppServer
    ex: ExecMethod
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    threads: dict[str, dict[int, str]] = field(default_factory=lambda: {m: {} for m in METHODS})
    tuis: dict[int, TuiSession] = field(default_factory=dict)

    async def build_mcp(self) -> None:
        """A conversation per depth through our server."""
        for depth in DEPTHS:
            cid, _ = await self.mcp.start(prompt("mcp", f"d{depth}", 0))
            for n in range(1, depth):
                await self.mcp.turn(cid, prompt("mcp", f"d{depth}", n))
            self.threads["mcp"][depth] = cid

    async def build_tui(self) -> None:
        """A TUI per depth; the deepest one's memory as its turns add up."""
        deepest = max(DEPTHS)
        for depth in DEPTHS:
            session, _ = await self.tui.start(prompt("tui", f"d{depth}", 0))
            if depth == deepest:
                self.res.tui_by_turns[1] = memory_kb(session.pid)
            for n in range(1, depth):
                await session.turn(prompt("tui", f"d{depth}", n))
                if depth == deepest and n + 1 in (10, 20, 50):
                    self.res.tui_by_turns[n + 1] = memory_kb(session.pid)
            assert session.thread_id is not None
            self.tuis[depth] = session
            self.threads["tui"][depth] = session.thread_id

    async def build_app(self, server: AppServer, method: str, label: str) -> None:
        """A thread per depth on an app-server, for method (the app-server's memory as its threads add up)."""
        for depth in DEPTHS:
            tid = await server.start_thread()
            for n in range(depth):
                await server.turn(tid, prompt(label, f"d{depth}", n))
            self.threads[method][depth] = tid
            if method == "app-server":
                self.res.app_server_kb[len(self.threads[method])] = memory_kb(server.pid)

    async def build_histories(self, lab: Lab) -> None:
        """Every method's threads at every depth."""
        # exec's threads are built by a short-lived app-server on exec's CODEX_HOME (same rollout format; much
        # faster than 71 exec processes); it exits before exec resumes them.
        builder = AppServer(lab, "exec", counted=False)
        await builder.open()
        log("building histories (1, 20, 50 turns) for each method")
        await self.build_mcp()
        await self.build_tui()
        await self.build_app(self.app, "app-server", "app-server")
        await self.build_app(builder, "exec", "exec-history")
        await builder.close()

    def cpu_now(self, depth: int) -> dict[str, float]:
        """CPU so far, ms, of each method's processes that serve the thread at this depth."""
        return {
            "mcp": sum(self.mcp.cpu_ms()),
            "tui": cpu_ms(self.tuis[depth].pid),
            "app-server": cpu_ms(self.app.pid),
            "exec": self.ex.cpu_total,
        }

    async def one_turn(self, method: str, depth: int, p: str) -> TurnSample:
        """One turn of method on its thread at this depth (exec's reply time noted too)."""
        if method == "mcp":
            return await self.mcp.turn(self.threads["mcp"][depth], p)
        if method == "tui":
            return await self.tuis[depth].turn(p)
        if method == "app-server":
            return await self.app.turn(self.threads["app-server"][depth], p)
        sample = await self.ex.turn(self.threads["exec"][depth], p)
        if sample.reply_ms is not None:
            self.res.exec_reply_ms.setdefault(depth, []).append(sample.reply_ms)
        return sample

    async def measure_depth(self, depth: int) -> None:
        """plan.rounds turns of every method at this depth, in a shuffled order each round; CPU per turn."""
        log(f"measuring turns at depth {depth}")
        res, rounds = self.res, self.plan.rounds
        cpu0 = self.cpu_now(depth)
        server0 = self.mcp.cpu_ms()[0]
        samples: dict[str, list[TurnSample]] = {}
        for r in range(rounds):
            order = list(METHODS)
            self.rng.shuffle(order)
            for method in order:
                sample = await self.one_turn(method, depth, prompt(method, f"d{depth}", depth + r))
                res.latency.setdefault(method, {}).setdefault(depth, []).append(sample.ms)
                samples.setdefault(method, []).append(sample)
                await anyio.sleep(GAP_S)
            listed = self.mcp.cpu_ms()[0]
            res.mcp_call_ms.append(await self.mcp.call_ms())
            server0 += self.mcp.cpu_ms()[0] - listed  # the codex_list call is not a turn's
        cpu1 = self.cpu_now(depth)
        for method in METHODS:
            res.cpu_per_turn.setdefault(method, {})[depth] = (cpu1[method] - cpu0[method]) / rounds
        res.server_cpu_per_turn[depth] = (self.mcp.cpu_ms()[0] - server0) / rounds
        self.record_rollouts(depth, samples)

    def record_rollouts(self, depth: int, samples: dict[str, list[TurnSample]]) -> None:
        """Codex's own time per measured turn, and the turn's phases, from the timestamps in each rollout."""
        homes = {"mcp": self.mcp.home, "tui": self.tui.home, "app-server": self.app.home, "exec": self.ex.home}
        rounds = self.plan.rounds
        for method in METHODS:
            own = rollout_durations(homes[method], self.threads[method][depth])[-rounds:]
            self.res.codex_ms.setdefault(method, {})[depth] = own
            times = rollout_turn_times(homes[method], self.threads[method][depth])[-rounds:]
            self.res.phases.setdefault(method, {})[depth] = [
                (
                    (started - sample.sent_at) * 1000,
                    (done - started) * 1000,
                    sample.ms - (done - sample.sent_at) * 1000,
                )
                for sample, (started, done) in zip(samples[method], times, strict=True)
            ]


async def section_turns(
    lab: Lab, plan: Plan, res: Results, mcp: McpMethod, tui: TuiMethod, app: AppServer, ex: ExecMethod
) -> None:
    """Per-turn latency at 1/20/50 turns of history, interleaved; Codex's own time per turn; CPU per turn."""
    run = TurnsRun(plan, res, mcp, tui, app, ex)
    deepest = max(DEPTHS)
    await run.build_histories(lab)
    for depth in DEPTHS:
        await run.measure_depth(depth)
    for depth in DEPTHS:
        path = find_rollout(ex.home, run.threads["exec"][depth])
        res.exec_rollout_kb[depth] = path.stat().st_size / 1024 if path else float("nan")
    # Blocks the loop for a moment; nothing is being timed now.
    res.server_costs = server_costs(
        run.tuis[deepest].screen, lab.root / "mcp-state", run.threads["mcp"][deepest], lab.root / "scratch"
    )
    for depth in DEPTHS:
        await mcp.end(run.threads["mcp"][depth])
    await tui.close()


async def section_start(lab: Lab, plan: Plan, res: Results, tui: TuiMethod, ex: ExecMethod) -> None:
    """codex_start → first reply (the first one of a fresh server, a later one, and one with no warm spare),
    against codex exec's first turn, a raw TUI and a cold app-server; the warm spare's memory and idle CPU."""
    rng = random.Random(11)
    kinds = ["mcp", "mcp-cold", "tui", "exec", "app-server"]
    for r in range(plan.start_rounds):
        rng.shuffle(kinds)
        for kind in kinds:
            if kind == "mcp":
                await start_with_spares(lab, res, r)
                continue
            p = prompt(kind, f"start-{kind}", r)
            if kind == "mcp-cold":
                async with McpMethod.serve(
                    lab, "mcp-start", CODEX_MCP_SPARE_KEEP_S="0", CODEX_MCP_PREWARM="0"
                ) as server:
                    _, ms = await server.start(prompt("mcp-start", "cold", r))
            elif kind == "tui":
                began = time.perf_counter()
                session, ready = await tui.launch()
                await session.turn(p)
                ms = (time.perf_counter() - began) * 1000
                res.tui_ready_ms.append(ready)
                await anyio.sleep(GAP_S)
                await tui.close(session)
            elif kind == "exec":
                _, ms = await ex.start(p)
            else:
                began = time.perf_counter()
                cold = AppServer(lab, "app-server")
                await cold.open()
                tid = await cold.start_thread()
                await cold.turn(tid, p)
                ms = (time.perf_counter() - began) * 1000
                await cold.close()
            res.start_ms.setdefault(kind, []).append(ms)
            await anyio.sleep(GAP_S)


async def start_with_spares(lab: Lab, res: Results, r: int) -> None:
    """A fresh server with the defaults: its first codex_start (FIRST_CALL_AFTER_S after connecting), then a later
    one in the same folder; the warm spare's memory and idle CPU in between."""
    async with McpMethod.serve(lab, "mcp-start") as server:
        await anyio.sleep(FIRST_CALL_AFTER_S)
        _, first = await server.start(prompt("mcp-start", "first", r))
        await anyio.sleep(FIRST_CALL_AFTER_S)
        spare = newest_child(server.server_pid)
        if spare is not None:
            res.spare_kb.append(memory_kb(spare))
            before = cpu_ms(spare)
            await anyio.sleep(2.0)
            res.spare_idle_pct.append((cpu_ms(spare) - before) / 2000 * 100)
        _, later = await server.start(prompt("mcp-start", "later", r))
    res.start_ms.setdefault("mcp-first", []).append(first)
    res.start_ms.setdefault("mcp-later", []).append(later)


def newest_child(pid: int) -> int | None:
    """The most recently started child process (the server's warm spare, after a start)."""
    kids = children(pid)
    return max(kids, key=started_at) if kids else None


def started_at(pid: int) -> int:
    """Start time of a process, in clock ticks since boot (0 if it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


async def settle(pids: Callable[[], list[int]], quiet_pct: float = 3.0, limit_s: float = 15.0) -> None:
    """Wait until the given processes together use less than quiet_pct of one core (bounded)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        watched = pids()
        before = sum(cpu_ms(p) for p in watched)
        await anyio.sleep(0.5)
        if (sum(cpu_ms(p) for p in watched) - before) / 5.0 < quiet_pct:
            return


async def section_scale(lab: Lab, plan: Plan, res: Results, mcp: McpMethod, ex: ExecMethod) -> None:
    """Latency on one conversation with 0..N idle others live; memory per session; idle CPU; throughput."""
    res.server_alone_kb = memory_kb(mcp.server_pid)  # before this section's sessions (earlier ones are ended)
    before = set(mcp.codex_pids())
    target, _ = await mcp.start(prompt("mcp", "scale", 0))
    [target_pid] = set(mcp.codex_pids()) - before
    for n in range(1, 3):
        await mcp.turn(target, prompt("mcp", "scale", n))
    others: list[str] = []
    counter = [3]

    async def reach(count: int) -> None:
        while len(others) > count:
            await mcp.end(others.pop())
        missing = count - len(others)

        def job(i: int) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                cid, _ = await mcp.start(prompt("mcp", f"idle{i}", 0))
                others.append(cid)

            return go

        await gather_in_batches([job(len(others) + i) for i in range(missing)], 4)

    def other_pids() -> list[int]:
        return [p for p in mcp.codex_pids() if p != target_pid]

    first_zero = True
    for count in plan.idle_counts:
        log(f"scale: {count} idle conversations live")
        await reach(count)
        await settle(lambda: [*other_pids(), mcp.server_pid])
        window = 2.0
        others_before = sum(cpu_ms(p) for p in other_pids())
        server_before = cpu_ms(mcp.server_pid)
        await anyio.sleep(window)
        idle_pct = (sum(cpu_ms(p) for p in other_pids()) - others_before) / (window * 10)
        server_pct = (cpu_ms(mcp.server_pid) - server_before) / (window * 10)
        res.idle_cpu_pct[count] = (idle_pct, server_pct)
        mem = memory_kb(mcp.server_pid)
        if count == 0 and not first_zero:
            res.server_after_end_kb = mem
        else:
            res.server_by_live[count + 1] = mem
            codex_mem = [memory_kb(p) for p in mcp.codex_pids()]
            res.codex_by_live[count + 1] = (sum(m[0] for m in codex_mem), sum(m[1] for m in codex_mem))
        first_zero = first_zero and count != 0
        samples: list[float] = []
        for _ in range(plan.scale_turns):
            sample = await mcp.turn(target, prompt("mcp", "scale", counter[0]))
            counter[0] += 1
            samples.append(sample.ms)
            await anyio.sleep(GAP_S)
        res.scale_latency.append((count, samples))
        if count == max(plan.idle_counts) and count:
            await idle_ab(plan, res, mcp, target, other_pids, counter)
        if count == max(plan.idle_counts):
            await section_throughput(lab, plan, res, mcp, [target, *others], ex)
    for cid in [*others, target]:
        await mcp.end(cid)


async def idle_ab(
    plan: Plan, res: Results, mcp: McpMethod, target: str, others: Callable[[], list[int]], counter: list[int]
) -> None:
    """Turns on the target, alternating: the idle others running, then frozen (SIGSTOP: no CPU at all, as if
    alone; memory and the server's tables unchanged). Interleaved, so background load hits both alike."""
    running: list[float] = []
    frozen: list[float] = []
    for _ in range(plan.scale_turns):
        for stop in (False, True):
            pids = others()
            if stop:
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGSTOP)
            await anyio.sleep(0.3)
            try:
                sample = await mcp.turn(target, prompt("mcp", "scale", counter[0]))
            finally:
                if stop:
                    for pid in pids:
                        with contextlib.suppress(OSError):
                            os.killpg(pid, signal.SIGCONT)
            counter[0] += 1
            (frozen if stop else running).append(sample.ms)
    res.idle_ab = (running, frozen)


async def section_throughput(
    lab: Lab, plan: Plan, res: Results, mcp: McpMethod, conversations: list[str], ex: ExecMethod
) -> None:
    """Turns/s with N conversations replying at once: our server, one app-server, N exec processes."""
    log("throughput")
    top = max(plan.concurrency)
    app = AppServer(lab, "app-server-throughput", counted=False)
    await app.open()
    app_threads = [await app.start_thread() for _ in range(top)]
    for i, tid in enumerate(app_threads):
        await app.turn(tid, prompt("app-server", f"tp{i}", 0))
    exec_threads: list[str] = []

    async def new_exec(i: int) -> None:
        tid, _ = await ex.start(prompt("exec", f"tp{i}", 0))
        exec_threads.append(tid)

    await gather_in_batches([functools.partial(new_exec, i) for i in range(top)], 2)
    counter = [1]
    order = list(plan.concurrency)
    for rep in range(plan.throughput_reps):
        for n in order if rep % 2 == 0 else reversed(order):
            for method in ("mcp", "app-server", "exec"):
                turns = plan.throughput_turns if method != "exec" else max(1, plan.throughput_turns // 2)
                base = counter[0]
                counter[0] += turns

                async def worker(i: int, method: str = method, turns: int = turns, base: int = base) -> None:
                    for k in range(turns):
                        p = prompt(method, f"tp{i}", base + k)
                        if method == "mcp":
                            await mcp.turn(conversations[i], p)
                        elif method == "app-server":
                            await app.turn(app_threads[i], p)
                        else:
                            await ex.turn(exec_threads[i], p)

                began = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for i in range(n):
                        tg.start_soon(worker, i)
                rate = n * turns / (time.perf_counter() - began)
                res.throughput.setdefault(method, {}).setdefault(n, []).append(rate)
                await anyio.sleep(0.3)
    await app.close()


VARIANTS: list[tuple[str, list[str], str, str]] = [
    ("default", [], "", "our settings today (`codex.session_args`)"),
    (
        "animations on",
        ["tui.animations=true"],
        "",
        "Codex's own default: spinner and shimmer redraws while working; transcript and replies the same",
    ),
    ("animations off", ["tui.animations=false"], "", "no spinner/shimmer redraws; transcript and replies unchanged"),
    (
        "shell snapshot off",
        ["features.shell_snapshot=false"],
        "",
        "commands no longer start from a snapshot of the user's login-shell environment",
    ),
    ("git repo cwd", [], "repo", "not a setting: the project folder is a git repository, as for most users"),
    (
        "title answered as plain text",
        [],
        PLAIN_TITLE,
        "not a setting: the fake model answers Codex's title request in plain text, not the JSON it asks for",
    ),
]


async def section_variants(lab: Lab, plan: Plan, res: Results) -> None:
    """Codex settings (and two conditions) that may change per-turn cost, measured with the tui method."""
    tui = TuiMethod(lab, "variants")
    model = lab.models["variants"]
    rng = random.Random(13)
    results = [VariantResult(name, config, effect) for name, config, _, effect in VARIANTS]
    for start in range(plan.variant_starts):
        log(f"settings: start {start + 1}/{plan.variant_starts}")
        order = list(range(len(VARIANTS)))
        rng.shuffle(order)
        live: dict[int, TuiSession] = {}
        for i in order:
            _, config, special, _ = VARIANTS[i]
            cwd = lab.repo if special == "repo" else lab.work
            marker = f" {PLAIN_TITLE}" if special == PLAIN_TITLE else ""
            began = time.perf_counter()
            session, ready = await tui.launch(config, cwd)
            await session.turn(f"{prompt('v', f'{i}s{start}', 0)}{marker}")
            results[i].ready_ms.append(ready)
            results[i].first_ms.append((time.perf_counter() - began) * 1000)
            results[i].threads += 1
            live[i] = session
            await anyio.sleep(GAP_S)
        cpu0 = {i: cpu_ms(s.pid) for i, s in live.items()}
        bytes0 = {i: s.bytes_out for i, s in live.items()}
        for r in range(plan.variant_rounds):
            rng.shuffle(order)
            for i in order:
                marker = f" {PLAIN_TITLE}" if VARIANTS[i][2] == PLAIN_TITLE else ""
                sample = await live[i].turn(f"{prompt('v', f'{i}s{start}', r + 1)}{marker}")
                results[i].turn_ms.append(sample.ms)
                await anyio.sleep(GAP_S)
        for i, s in live.items():
            await s.wait_idle()
            results[i].cpu_per_turn.append((cpu_ms(s.pid) - cpu0[i]) / plan.variant_rounds)
            results[i].bytes_per_turn.append((s.bytes_out - bytes0[i]) / plan.variant_rounds)
        # A turn whose model takes wait_s to answer: what Codex draws and burns while it waits.
        for i in order:
            s = live[i]
            marker = f" {PLAIN_TITLE}" if VARIANTS[i][2] == PLAIN_TITLE else ""
            p = f"{prompt('v', f'{i}s{start}', 99)} [[delay:{plan.wait_s}]]{marker}"
            c0, b0 = cpu_ms(s.pid), s.bytes_out
            await s.turn(p)
            results[i].wait_cpu_per_s.append((cpu_ms(s.pid) - c0) / plan.wait_s)
            results[i].wait_bytes_per_s.append((s.bytes_out - b0) / plan.wait_s)
        await tui.close()
    records = model.records()
    for i, v in enumerate(results):
        v.requests = count_requests(records, f"bench v {i}s")
        v.turns = v.threads * (plan.variant_rounds + 2)
    res.variants = results


async def measure(lab: Lab, plan: Plan, res: Results) -> None:
    """Every section, in order."""
    for name in ("mcp", "mcp-start", "tui", "app-server", "exec", "variants"):
        lab.codex_home(name)
    # The per-turn, scale and memory sections count sessions and their processes: no warm spare there. The start
    # section runs servers of its own, with the defaults.
    async with McpMethod.serve(lab, CODEX_MCP_SPARE_KEEP_S="0") as mcp:
        tui = TuiMethod(lab)
        app = AppServer(lab, "app-server")
        ex = ExecMethod(lab)
        await app.open()
        try:
            t = time.monotonic()
            await section_turns(lab, plan, res, mcp, tui, app, ex)
            res.section_s["per-turn latency (incl. building histories)"] = time.monotonic() - t
            await app.close()
            t = time.monotonic()
            log("start → first reply")
            await section_start(lab, plan, res, tui, ex)
            res.section_s["start → first reply"] = time.monotonic() - t
            t = time.monotonic()
            await section_scale(lab, plan, res, mcp, ex)
            res.section_s["scale, memory, throughput"] = time.monotonic() - t
        finally:
            await tui.close()
            await app.close()
        res.exec_maxrss_kb = ex.maxrss_kb
    t = time.monotonic()
    await section_variants(lab, plan, res)
    res.section_s["Codex settings"] = time.monotonic() - t
    # Hidden requests per method: the user turns each method sent against what reached its model.
    for method in (*METHODS, "mcp-start"):
        turns, threads = lab.sent.get(method, [0, 0])
        res.hidden[method] = (lab.requests(method), turns, threads)
