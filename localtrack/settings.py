"""Settings: declared once, as data, with help text; every ``LOCALTRACK_*`` variable is here.

Resolution: explicit argument > ``LOCALTRACK_*`` environment variable > default, looked up when
it is needed (a run starting, a server starting, a check running), never at import. Every
variable is parsed one way (``_parse``): an empty value means unset, and a bad one is a
``UsageError`` naming the variable, the value and what is allowed.

``scope`` groups the table for the docs: ``run`` (per run; most are ``Settings`` fields),
``sync`` (the sync client) and ``server`` (``localtrack server`` and ``localtrack ui``). The
README's settings tables and docs/sync.md's are rendered from this table
(tests/test_settings.py checks they match).

Other environment variables the code reads are facts about the environment, not settings, so
they are not here: ``XDG_CONFIG_HOME`` (sync/config.py), ``RANK``, ``LOCAL_RANK``,
``SLURM_PROCID`` and ``WORLD_SIZE`` (liverun/init.py, the DDP rank), and the environment a run's
console capture passes on to a child (capture/console.py).

This module imports only the standard library and ``localtrack.errors``, so any layer (the
store included) may use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from .errors import UsageError

DEFAULT_DIR = "./localtrack-runs"
SCOPES = ("run", "sync", "server")


@dataclass(frozen=True)
class WandbEnv:
    """A W&B variable that sets the same thing; the ``LOCALTRACK_*`` twin wins when both are set.

    values: W&B's value (lower-cased) → localtrack's, as pairs ("" means: as if unset); empty
    passes the value through. subdir: joined to a path value (W&B writes into a subfolder too).
    """

    env: str
    values: tuple[tuple[str, str], ...] = ()
    subdir: str = ""


_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")
_INVERTED = tuple((v, "0") for v in _ON) + tuple((v, "1") for v in _OFF)


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its name, variable, type and default, and the help the docs show.

    argument: how code sets it (a ``Settings`` field name, or e.g. ``init(dir=)``); None when
    only the environment can. unit: what a number counts, for messages. choices: the only
    values allowed. minimum: the smallest number allowed. shown_default: the default as the
    docs show it, when the plain value would mislead.
    """

    name: str
    env: str
    kind: type
    default: Any
    help: str
    scope: str = "run"
    argument: str | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    shown_default: str | None = None
    wandb: tuple[WandbEnv, ...] = ()


def _run(name: str, kind: type, default: Any, help: str, **kw: Any) -> SettingSpec:
    """A setting code can also pass (``Settings(name=...)`` unless `argument` says otherwise)."""
    kw.setdefault("argument", name)
    kw.setdefault("scope", "run")
    return SettingSpec(name, "LOCALTRACK_" + name.upper(), kind, default, help, **kw)


def _env_only(name: str, scope: str, kind: type, default: Any, help: str, **kw: Any) -> SettingSpec:
    return SettingSpec(name, "LOCALTRACK_" + name.upper(), kind, default, help, scope, **kw)


_UNSET_IF_OFF = tuple((v, "") for v in _OFF)
_WANDB_MODES = (
    ("online", "online"),
    ("run", "online"),
    ("offline", "offline"),
    ("dryrun", "offline"),
    ("disabled", "disabled"),
)
_WANDB_CONSOLE = (
    ("off", "0"),
    *((v, "1") for v in ("auto", "wrap", "redirect", "wrap_raw", "wrap_emu", "on")),
)


def _init_argument(name: str, wandb_env: str, help: str, **kw: Any) -> SettingSpec:
    """An init() argument a variable can set for a whole job (e.g. ``WANDB_PROJECT``)."""
    kw.setdefault("argument", f"init({name}=)")
    kw.setdefault("wandb", (WandbEnv(wandb_env),))
    return _run(name, str, None, help, **kw)


_INIT_ARGUMENTS = (
    _init_argument("project", "WANDB_PROJECT", "project of a run started without `project=`"),
    _init_argument("entity", "WANDB_ENTITY", "entity (team) of a run started without `entity=`"),
    _init_argument("name", "WANDB_NAME", "name of a run started without `name=`"),
    _init_argument("notes", "WANDB_NOTES", "notes of a run started without `notes=`"),
    _init_argument("tags", "WANDB_TAGS", "tags of a run started without `tags=`, comma-separated"),
    _init_argument("group", "WANDB_RUN_GROUP", "group of a run started without `group=`"),
    _init_argument("job_type", "WANDB_JOB_TYPE", "job type of a run started without `job_type=`"),
    _init_argument(
        "run_id",
        "WANDB_RUN_ID",
        "id of a run started without `id=` (with a resume setting: the run to continue)",
        argument="init(id=)",
    ),
    _init_argument(
        "resume",
        "WANDB_RESUME",
        "resume mode of a run started without `resume=`: `allow`, `must` or `never` "
        "(W&B's `auto` and `true` mean `allow`)",
        choices=("allow", "must", "never"),
        wandb=(
            WandbEnv(
                "WANDB_RESUME",
                (
                    *((v, v) for v in ("allow", "must", "never")),
                    ("auto", "allow"),
                    *((v, "allow") for v in _ON),
                    *_UNSET_IF_OFF,
                ),
            ),
        ),
    ),
)

SPECS: tuple[SettingSpec, ...] = (
    _run(
        "dir",
        str,
        DEFAULT_DIR,
        "root directory of the store (`WANDB_DIR`: its `localtrack-runs` subfolder)",
        argument="init(dir=)",
        wandb=(WandbEnv("WANDB_DIR", subdir="localtrack-runs"),),
    ),
    _run(
        "mode",
        str,
        "offline",
        "`offline` writes locally; `online` also pushes to a server in the background; "
        "`disabled` logs nothing (same API)",
        choices=("offline", "online", "disabled"),
        wandb=(
            WandbEnv("WANDB_DISABLED", (*((v, "disabled") for v in _ON), *_UNSET_IF_OFF)),
            WandbEnv("WANDB_MODE", _WANDB_MODES),
        ),
    ),
    _run(
        "base_url",
        str,
        None,
        'the server `localtrack sync` and `mode="online"` push to (else the last '
        "`localtrack login`)",
        scope="sync",
        wandb=(WandbEnv("WANDB_BASE_URL"),),
    ),
    _run(
        "api_key",
        str,
        None,
        "the API key for that server (else the one `localtrack login` saved)",
        scope="sync",
        wandb=(WandbEnv("WANDB_API_KEY"),),
    ),
    _run(
        "strict",
        bool,
        False,
        "raise on unsupported values instead of warning and dropping them",
    ),
    _run(
        "flush_interval",
        float,
        0.5,
        "seconds between background flushes (bounds what a crash can lose)",
        unit="seconds",
    ),
    _run(
        "seal_interval",
        float,
        300.0,
        "seconds after which flushed rows are sealed into a Parquet shard (15 in online mode "
        "unless set)",
        unit="seconds",
    ),
    _run(
        "seal_scalars",
        int,
        500_000,
        "logged values after which flushed rows are sealed into a shard",
        unit="values",
    ),
    _run(
        "finish_timeout",
        float,
        120.0,
        "hard deadline, in seconds, for `finish()`",
        unit="seconds",
    ),
    _run(
        "index",
        str,
        "auto",
        "shared SQLite index: `auto` (off on network filesystems), `on`, `off`",
        choices=("auto", "on", "off"),
    ),
    _run(
        "per_rank",
        bool,
        False,
        "under DDP, one run per rank instead of rank 0 only",
    ),
    _run(
        "capture_git",
        bool,
        True,
        "record git commit, branch and dirty flag at init",
        wandb=(WandbEnv("WANDB_DISABLE_GIT", _INVERTED),),
    ),
    _run(
        "system_metrics",
        bool,
        True,
        "sample CPU, memory, disk, network and GPU use in the background (`system/*` keys)",
        wandb=(
            WandbEnv("WANDB_X_DISABLE_STATS", _INVERTED),
            WandbEnv("WANDB__DISABLE_STATS", _INVERTED),
        ),
    ),
    _run(
        "system_metrics_interval",
        float,
        5.0,
        "seconds between system metric samples",
        unit="seconds",
        wandb=(
            WandbEnv("WANDB_X_STATS_SAMPLING_INTERVAL"),
            WandbEnv("WANDB__STATS_SAMPLE_RATE_SECONDS"),
        ),
    ),
    _run(
        "console",
        bool,
        True,
        "copy stdout and stderr to the run's `files/output.log` (they still reach the terminal "
        "unchanged)",
        wandb=(WandbEnv("WANDB_CONSOLE", _WANDB_CONSOLE),),
    ),
    _run(
        "save_code",
        bool,
        True,
        "save uncommitted changes (`git diff HEAD`) as the run's `files/diff.patch`",
        wandb=(WandbEnv("WANDB_SAVE_CODE"), WandbEnv("WANDB_DISABLE_CODE", _INVERTED)),
    ),
    _run(
        "capture_packages",
        bool,
        True,
        "save installed packages (like `pip freeze`) as the run's `files/requirements.txt`",
    ),
    _run(
        "stale_after",
        float,
        60.0,
        "seconds without a heartbeat after which readers call a running run `crashed` (runs on "
        "the same host are detected at once by their pid)",
        unit="seconds",
    ),
    _run(
        "silent",
        bool,
        False,
        "`localtrack.termlog()`, `termwarn()` and `termerror()` print nothing (the library "
        "itself never prints)",
        wandb=(WandbEnv("WANDB_SILENT"),),
    ),
    *_INIT_ARGUMENTS,
    _env_only(
        "sweep_id",
        "run",
        str,
        None,
        "set by `localtrack agent` for a trial it starts: the sweep that `init()` joins",
    ),
    _env_only(
        "sweep_trial",
        "run",
        str,
        None,
        "set by `localtrack agent` with `LOCALTRACK_SWEEP_ID`: which trial (and attempt) this is",
    ),
    _env_only(
        "config_dir",
        "sync",
        str,
        None,
        "where `localtrack login` keeps the server URL and key (mode 0600)",
        shown_default="`$XDG_CONFIG_HOME/localtrack` (else `~/.config/localtrack`)",
    ),
    _env_only(
        "allowed_hosts",
        "server",
        str,
        None,
        "extra `Host` header values the server and `localtrack ui` accept, comma-separated "
        "(e.g. `tracker.example.org`; or `--allow-host`)",
        shown_default="loopback names",
    ),
    _env_only(
        "rate_limit",
        "server",
        float,
        200.0,
        "requests per second per API key before `429` + `Retry-After` (0 turns rate limits off)",
        unit="requests per second",
    ),
    _env_only(
        "rate_burst",
        "server",
        float,
        1000.0,
        "requests a key may send in a burst above the rate limit",
        unit="requests",
    ),
    _env_only(
        "max_blob_bytes",
        "server",
        int,
        512 << 20,
        "the largest file one upload may carry (`413` beyond it, counted on the streamed bytes)",
        unit="bytes",
        minimum=1,
        shown_default="`536870912` (512 MiB)",
    ),
    _env_only(
        "blobs",
        "server",
        str,
        None,
        "where the server keeps blobs: `s3://BUCKET/PREFIX` for an S3-compatible object store "
        "(or `--blobs`; docs/deploy.md)",
        shown_default="the store directory",
    ),
    _env_only(
        "index_url",
        "server",
        str,
        None,
        "where the server keeps its run index, keys, rate limits, sweeps and saved views: "
        "`postgresql://USER@HOST/DB`, shared by every replica (or `--index`; docs/deploy.md)",
        shown_default="the store directory",
    ),
    _env_only(
        "s3_endpoint",
        "server",
        str,
        None,
        "the object store's URL for `--blobs s3://…` (MinIO, Ceph: e.g. `https://minio:9000`); "
        "credentials come from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or `~/.aws/credentials`",
        shown_default="AWS S3",
    ),
    _env_only(
        "s3_region",
        "server",
        str,
        None,
        "the object store's region (`us-east-1` for most MinIO and Ceph setups)",
        shown_default="`AWS_DEFAULT_REGION`, else `us-east-1`",
    ),
    _env_only(
        "s3_path_style",
        "server",
        bool,
        True,
        "address buckets as `ENDPOINT/BUCKET/KEY` (MinIO, Ceph) rather than "
        "`BUCKET.ENDPOINT/KEY` (0); AWS S3 without an endpoint is always virtual-hosted",
    ),
    _env_only(
        "s3_timeout",
        "server",
        float,
        30.0,
        "seconds one object-store request may take before it is retried",
        unit="seconds",
        minimum=0.1,
    ),
    _env_only(
        "s3_retries",
        "server",
        int,
        5,
        "attempts per object-store request (503, throttling, timeouts) before the server "
        "answers `503` and the client retries later",
        unit="attempts",
        minimum=1,
    ),
    _env_only(
        "read_cache_bytes",
        "server",
        int,
        4 << 30,
        "the most a server with `--index` and `--blobs` keeps in its local cache of runs read "
        "from the object store (`<dir>/readcache/`; least recently read evicted first)",
        unit="bytes",
        minimum=1,
        shown_default="`4294967296` (4 GiB)",
    ),
    _env_only(
        "max_shard_rows",
        "server",
        int,
        50_000_000,
        "rows one Parquet file a client sends (metric shard or logged table) may hold, read "
        "from its footer before anything is decoded (`400` naming the limit beyond it)",
        unit="rows",
        minimum=1,
    ),
    _env_only(
        "max_decoded_bytes",
        "server",
        int,
        4 << 30,
        "bytes one Parquet file a client sends may decode to in memory (footer sizes, then "
        "string lengths in bounded batches)",
        unit="bytes",
        minimum=1,
        shown_default="`4294967296` (4 GiB)",
    ),
    _env_only(
        "max_json_bytes",
        "server",
        int,
        32 << 20,
        "bytes of one JSON document a client sends (`run.json`, each media log), checked "
        "before it is parsed",
        unit="bytes",
        minimum=1,
        shown_default="`33554432` (32 MiB)",
    ),
)
_BY_NAME = {s.name: s for s in SPECS}


def spec(name: str) -> SettingSpec:
    """The declaration of setting `name`."""
    return _BY_NAME[name]


def default(name: str) -> Any:
    """The default of setting `name`."""
    return _BY_NAME[name].default


def _show(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _bad(spec: SettingSpec, raw: str, what: str, allowed: str, env: str = "") -> UsageError:
    return UsageError(f"{env or spec.env}={raw!r} {what}; set it to {allowed}")


def _parse(spec: SettingSpec, raw: str, env: str = "") -> Any:
    """`raw` (not empty) as the setting's type; UsageError naming variable, value and rule."""
    bad = partial(_bad, env=env)  # a W&B variable is named as itself
    text = raw.strip()
    unit = f" of {spec.unit}" if spec.unit else ""
    if spec.kind is bool:
        low = text.lower()
        if low in _ON or low in _OFF:
            return low in _ON
        raise bad(spec, raw, "is not a boolean", "1/0, true/false, yes/no or on/off")
    if spec.kind is str:
        if spec.choices and text not in spec.choices:
            raise bad(spec, raw, "is not allowed", " or ".join(spec.choices))
        return text
    if spec.kind is int:
        try:
            value: float = int(text)
        except ValueError:
            example = f"a whole number such as {spec.default}"
            raise bad(spec, raw, f"is not a whole number{unit}", example) from None
    else:
        try:
            value = float(text)
        except ValueError:
            example = f"a number such as {_show(spec.default)}"
            raise bad(spec, raw, f"is not a number{unit}", example) from None
    if spec.minimum is not None and value < spec.minimum:
        what = f"is below {_show(spec.minimum)}"
        raise bad(spec, raw, what, f"{_show(spec.minimum)} or more (default {spec.default})")
    return value


def from_env(name: str) -> Any:
    """Setting `name` as its environment variable sets it, parsed; None when unset or empty."""
    spec = _BY_NAME[name]
    raw = os.environ.get(spec.env)
    if raw is not None and raw.strip():
        return _parse(spec, raw)
    for alias in spec.wandb:  # W&B's twins, when the LOCALTRACK_* variable is not set
        value = _from_wandb(spec, alias)
        if value is not None:
            return value
    return None


def _from_wandb(spec: SettingSpec, alias: WandbEnv) -> Any:
    raw = os.environ.get(alias.env)
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if alias.values:
        table = dict(alias.values)
        if text.lower() not in table:
            allowed = " or ".join(dict.fromkeys(table))
            raise UsageError(f"{alias.env}={raw!r} is not allowed; set it to {allowed}")
        text = table[text.lower()]
        if not text:
            return None
    if alias.subdir:
        text = os.path.join(text, alias.subdir)
    return _parse(spec, text, env=alias.env)


def wandb_variables() -> dict[str, str]:
    """Each W&B variable localtrack honours → the setting it sets."""
    return {alias.env: spec.name for spec in SPECS for alias in spec.wandb}


def resolve(name: str, explicit: Any = None) -> Any:
    """The value of setting `name`: explicit argument > environment variable > default."""
    if explicit is not None:
        return explicit
    value = from_env(name)
    return _BY_NAME[name].default if value is None else value


def export(name: str, value: str) -> None:
    """Put a setting into this process's environment, and so its children's: for a command's
    option that every part of the process must see alike (``server --index`` reaches the reader,
    ingest, artifacts and keys through ``LOCALTRACK_INDEX_URL``)."""
    os.environ[_BY_NAME[name].env] = value


def resolve_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The store root: dir= > LOCALTRACK_DIR > ./localtrack-runs (relative to the cwd now)."""
    return Path(resolve("dir", None if explicit is None else os.fspath(explicit))).expanduser()


_W_MODES = ("dryrun", "run")  # W&B's mode names that Settings(mode=) translates


@dataclass(frozen=True, init=False)
class Settings:
    """Per-run settings; any field left as None is resolved from the environment or default.

    Example: ``localtrack.init(settings=localtrack.Settings(strict=True, flush_interval=0.5))``.
    W&B's settings are accepted by their W&B names (``Settings(silent=True, disable_git=True)``):
    honoured or ignored as docs/wandb.md lists; a name neither knows is a UsageError naming the
    closest one. W&B values localtrack keeps as init() arguments (``project``, ``run_name``,
    ``root_dir``...) land in ``extra``.
    """

    mode: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    strict: bool | None = None
    flush_interval: float | None = None
    seal_interval: float | None = None
    seal_scalars: int | None = None
    finish_timeout: float | None = None
    index: str | None = None
    per_rank: bool | None = None
    capture_git: bool | None = None
    system_metrics: bool | None = None
    system_metrics_interval: float | None = None
    console: bool | None = None
    save_code: bool | None = None
    capture_packages: bool | None = None
    stale_after: float | None = None
    silent: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        own = {f.name for f in fields(self)}
        foreign = {k: v for k, v in values.items() if k not in own}
        values = {k: v for k, v in values.items() if k in own}
        extra = dict(values.pop("extra", None) or {})
        if foreign or isinstance(values.get("console"), str) or values.get("mode") in _W_MODES:
            from .liverun.wandb_names import translate_settings

            translate_settings(foreign, values, extra)
        for name in own - {"extra"}:
            object.__setattr__(self, name, values.get(name))
        object.__setattr__(self, "extra", extra)

    def resolved(self) -> dict[str, Any]:
        """Every setting's effective value."""
        out = {}
        for f in fields(self):
            if f.name in _BY_NAME:
                out[f.name] = resolve(f.name, getattr(self, f.name))
        return out
