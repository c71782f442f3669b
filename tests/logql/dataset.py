"""The LogQL corpus dataset: a deterministic set of log streams over one hour.

`streams(base_ns)` returns Loki push streams (`{"stream": {...}, "values": [[ns, line]
or [ns, line, {metadata}]]}`) whose timestamps are `base_ns` plus fixed offsets, so the
same dataset can be loaded at any base and answers normalised relative to it. Offsets
are in [0, WINDOW_SECONDS); some fall exactly on whole minutes (the corpus' step
boundaries) to pin which window an entry at `t` belongs to, others carry nanoseconds.

The randomness is a splitmix64 generator seeded per stream, so the dataset does not
depend on Python's `random` module or version.

Streams (labels job, instance, namespace, level where the source has one):
- nginx access logs (job=nginx, two instances, two namespaces)
- logfmt application logs (job=api, levels info/warn/error as separate streams),
  durations (`12ms`, `1.5s`), byte sizes (`4KB`, `1.5MiB`), some unparsable values,
  trace ids; the error stream carries structured metadata (`region`)
- JSON worker logs with nested objects, arrays, numbers and some broken lines
- ANSI-coloured lines (job=colors)
"""

from __future__ import annotations

S = 1_000_000_000
WINDOW_SECONDS = 3600

MASK = (1 << 64) - 1


class Rng:
    """splitmix64: tiny, fast and the same everywhere."""

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        return self.next() % bound

    def choice(self, items):
        return items[self.below(len(items))]

    def chance(self, percent: int) -> bool:
        return self.below(100) < percent


def offsets(rng: Rng, count: int, on_minute_every: int) -> list[int]:
    """`count` distinct increasing offsets (ns) in the window; every
    `on_minute_every`-th lands exactly on a whole minute."""
    spacing = WINDOW_SECONDS * S // count
    out: list[int] = []
    previous = -1
    for index in range(count):
        if on_minute_every and index % on_minute_every == 3:
            candidate = (index * spacing // (60 * S) + 1) * 60 * S
        else:
            candidate = index * spacing + rng.below(spacing)
            if rng.chance(50):
                candidate -= candidate % 1000  # some whole microseconds
        if candidate <= previous:
            candidate = previous + 1
        if candidate >= WINDOW_SECONDS * S:
            break
        out.append(candidate)
        previous = candidate
    return out


def trace_id(rng: Rng) -> str:
    return f"{rng.next():016x}{rng.next():016x}"


def clock(offset_ns: int) -> str:
    """A fixed wall-clock rendering inside the line (not used as the entry time)."""
    seconds = offset_ns // S
    return f"06/Dec/2026:{1 + seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d} +0000"


PATHS = ["/", "/api/users", "/api/users/42", "/api/orders", "/static/app.js", "/healthz", "/login"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
AGENTS = ["curl/8.5.0", "Mozilla/5.0", "Go-http-client/1.1", "kube-probe/1.29"]
STATUSES = [200, 200, 200, 200, 201, 204, 301, 304, 400, 403, 404, 500, 502, 503]


def nginx_line(rng: Rng, offset_ns: int) -> str:
    ip = f"10.0.{rng.below(4)}.{rng.below(250) + 1}"
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    status = rng.choice(STATUSES)
    size = rng.below(20000)
    latency = rng.below(2500) / 1000
    agent = rng.choice(AGENTS)
    return (
        f'{ip} - - [{clock(offset_ns)}] "{method} {path} HTTP/1.1" {status} {size} '
        f'"-" "{agent}" {latency:.3f}'
    )


USERS = ["alice", "bob", "carol", "dave"]
MESSAGES = ["request done", "cache miss", "retrying upstream", "slow query", "user login"]
DURATIONS = ["12ms", "250ms", "1.5s", "3s", "850us", "2m", "45ms", "100ms"]
SIZES = ["512B", "4KB", "1.5MiB", "20kB", "3MB", "900", "64KiB"]


def api_line(rng: Rng, level: str, offset_ns: int) -> str:
    parts = [
        f"ts=2026-12-06T{1 + offset_ns // S // 3600:02d}:{offset_ns // S // 60 % 60:02d}:{offset_ns // S % 60:02d}Z",
        f"level={level}",
        f'msg="{rng.choice(MESSAGES)}"',
        f"method={rng.choice(METHODS)}",
        f"path={rng.choice(PATHS)}",
        f"status={rng.choice(STATUSES)}",
    ]
    if rng.chance(8):
        parts.append("duration=unknown")
    else:
        parts.append(f"duration={rng.choice(DURATIONS)}")
    parts.append(f"size={rng.choice(SIZES)}")
    parts.append(f"latency_ms={rng.below(5000) / 10}")
    parts.append(f"user={rng.choice(USERS)}")
    if rng.chance(60):
        parts.append(f"trace_id={trace_id(rng)}")
    if rng.chance(10):
        parts.append('error="upstream timed out"')
    return " ".join(parts)


KINDS = ["email", "report", "resize", "sync"]


def worker_line(rng: Rng, level: str) -> str:
    if rng.chance(4):
        return "worker panic: runtime error (not json)"
    kind = rng.choice(KINDS)
    attempts = rng.below(4) + 1
    duration_ms = rng.below(100000) / 100
    fields = [
        f'"level":"{level}"',
        f'"msg":"{rng.choice(["job finished", "job started", "job failed"])}"',
        f'"job":{{"id":{rng.below(1000)},"kind":"{kind}","attempts":{attempts},"owner":{{"team":"{rng.choice(["core", "growth"])}"}}}}',
        f'"duration_ms":{duration_ms}',
        f'"size":"{rng.choice(SIZES)}"',
        f'"elapsed":"{rng.choice(DURATIONS)}"',
        f'"tags":["{kind}","q{rng.below(3)}"]',
        f'"ok":{"true" if rng.chance(80) else "false"}',
    ]
    if rng.chance(50):
        fields.append(f'"trace_id":"{trace_id(rng)}"')
    return "{" + ",".join(fields) + "}"


COLORS = {"INFO": "\x1b[32m", "WARN": "\x1b[33m", "ERROR": "\x1b[31m"}


def color_line(rng: Rng) -> str:
    level = rng.choice(["INFO", "INFO", "WARN", "ERROR"])
    code = rng.choice([200, 404, 500])
    return f"{COLORS[level]}{level}\x1b[0m \x1b[1mcomponent=ui\x1b[0m rendered page code={code} took={rng.below(900)}ms"


def streams(base_ns: int) -> list[dict]:
    """The dataset's streams at `base_ns`."""
    out: list[dict] = []

    def add(labels: dict, seed: int, count: int, make, metadata=None) -> None:
        rng = Rng(seed)
        values = []
        for offset in offsets(rng, count, on_minute_every=7):
            line = make(rng, offset)
            entry = [str(base_ns + offset), line]
            if metadata is not None:
                entry.append(metadata(rng))
            values.append(entry)
        out.append({"stream": labels, "values": values})

    for index, (instance, namespace) in enumerate(
        [("web-1", "prod"), ("web-2", "prod"), ("web-3", "staging")]
    ):
        add(
            {"job": "nginx", "instance": instance, "namespace": namespace},
            100 + index,
            400 - 100 * index,
            nginx_line,
        )
    for index, (level, count) in enumerate([("info", 500), ("warn", 200), ("error", 120)]):
        for replica in (1, 2):
            metadata = None
            if level == "error":
                def metadata(rng):
                    return {"region": rng.choice(["eu", "us"])}
            add(
                {"job": "api", "instance": f"api-{replica}", "namespace": "prod", "level": level},
                200 + 10 * index + replica,
                count // replica,
                lambda rng, offset, level=level: api_line(rng, level, offset),
                metadata,
            )
    for index, level in enumerate(["info", "error"]):
        add(
            {"job": "worker", "instance": "w-1", "namespace": "batch", "level": level},
            300 + index,
            300 if level == "info" else 90,
            lambda rng, offset, level=level: worker_line(rng, level),
        )
    add({"job": "colors", "instance": "c-1", "namespace": "dev"}, 400, 150, lambda rng, offset: color_line(rng))
    return out


def line_count(base_ns: int = 0) -> int:
    return sum(len(stream["values"]) for stream in streams(base_ns))


if __name__ == "__main__":
    data = streams(0)
    print(f"{len(data)} streams, {line_count()} lines")
    for stream in data:
        print(stream["stream"], len(stream["values"]), stream["values"][0][1][:100])
