"""The settings table: every ``LOCALTRACK_*`` variable, declared once, as data, with help text.

``SPECS`` holds one ``SettingSpec`` per setting: its name, variable, type, default, the help the
docs show, and the W&B variables that set the same thing (``WandbEnv``). localtrack/settings.py
resolves and parses them; the README's settings tables and docs/sync.md's are rendered from
this table (tests/test_settings.py checks they match). A new setting is one row here.

``scope`` groups the table for the docs: ``run`` (per run; most are ``Settings`` fields),
``sync`` (the sync client) and ``server`` (``localtrack server`` and ``localtrack ui``).

Other environment variables the code reads are facts about the environment, not settings, so
they are not here: ``XDG_CONFIG_HOME`` (sync/config.py), ``RANK``, ``LOCAL_RANK``,
``SLURM_PROCID`` and ``WORLD_SIZE`` (liverun/init.py, the DDP rank), and the environment a run's
console capture passes on to a child (capture/console.py).

This module imports only the standard library, so any layer (the store included) may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


# The words a boolean variable may hold (settings.py parses against these; so do W&B twins).
ON_WORDS = ("1", "true", "yes", "on")
OFF_WORDS = ("0", "false", "no", "off")
_INVERTED = tuple((v, "0") for v in ON_WORDS) + tuple((v, "1") for v in OFF_WORDS)


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its name, variable, type and default, and the help the docs show.

    argument: how code sets it (a ``Settings`` field name, or e.g. ``init(dir=)``); None when
    only the environment can. unit: what a number counts, for messages. choices: the only
    values allowed. minimum / maximum: the smallest / largest number allowed. shown_default: the default as the
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
    maximum: float | None = None
    shown_default: str | None = None
    wandb: tuple[WandbEnv, ...] = ()


def _run(name: str, kind: type, default: Any, help: str, **kw: Any) -> SettingSpec:
    """A setting code can also pass (``Settings(name=...)`` unless `argument` says otherwise)."""
    kw.setdefault("argument", name)
    kw.setdefault("scope", "run")
    return SettingSpec(name, "LOCALTRACK_" + name.upper(), kind, default, help, **kw)


def _env_only(name: str, scope: str, kind: type, default: Any, help: str, **kw: Any) -> SettingSpec:
    return SettingSpec(name, "LOCALTRACK_" + name.upper(), kind, default, help, scope, **kw)


_UNSET_IF_OFF = tuple((v, "") for v in OFF_WORDS)
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
                    *((v, "allow") for v in ON_WORDS),
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
            WandbEnv("WANDB_DISABLED", (*((v, "disabled") for v in ON_WORDS), *_UNSET_IF_OFF)),
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
        "the most a server with `--index` and `--blobs` keeps in its local cache of runs and "
        "artifact files read from the object store (`<dir>/readcache/`; least recently read "
        "evicted first)",
        unit="bytes",
        minimum=1,
        shown_default="`4294967296` (4 GiB)",
    ),
    _env_only(
        "read_range_bytes",
        "server",
        int,
        8 << 20,
        "a metric shard or media file at least this big is read by byte range (its footer and "
        "the column chunks a chart needs, the bytes a video player seeks to) instead of being "
        "fetched whole into the read cache of a server with `--index` and `--blobs`",
        unit="bytes",
        minimum=1,
        shown_default="`8388608` (8 MiB)",
    ),
    _env_only(
        "read_block_bytes",
        "server",
        int,
        1 << 20,
        "the size of the blocks the read cache keeps of files read by byte range "
        "(`<dir>/readcache/blocks/`, bounded with the rest by `LOCALTRACK_READ_CACHE_BYTES`; "
        "at most 64 MiB, as a block is read into memory whole)",
        unit="bytes",
        minimum=4096,
        maximum=64 << 20,  # a block is read into memory whole
        shown_default="`1048576` (1 MiB)",
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
