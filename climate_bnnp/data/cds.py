"""Download ERA5 / ERA5-Land from the Copernicus Climate Data Store, one file per month.

:class:`CDSRequest` defaults reproduce the paper's request exactly
(docs/pipeline.md, "The paper's setting"): ERA5-Land,
``2m_temperature`` and ``total_precipitation``, 2010-2019, every day, 00:00 and 12:00 UTC,
area N50 W5 S45 E12, 0.1 degree grid, netCDF. :func:`download` is resumable (a month is skipped only when its
file opens and holds the requested variables and times), retries with exponential backoff, writes
atomically, unpacks ZIP archives delivered under a ``.nc`` name, and caps concurrent requests.

The cdsapi client is injectable (``client=`` or ``client_factory=``), so the tests run the real download
code against a fake client that writes real files (``tests/fake_cds.py``). The API key is never logged
nor put in a message.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from climate_bnnp.data.cds_files import merge_zip_to_netcdf, month_file_problem
from climate_bnnp.data.cds_request import CDSRequest

__all__ = [
    "CDSClient",
    "CDSCredentialsError",
    "CDSDownloadError",
    "CDSRequest",
    "check_credentials",
    "download",
    "make_cds_client",
]

logger = logging.getLogger(__name__)

_CREDENTIALS_HELP = (
    "Create ~/.cdsapirc with the two lines 'url: https://cds.climate.copernicus.eu/api' and "
    "'key: <your key>' "
    "(or point CDSAPI_RC at such a file), or set the environment variables CDSAPI_URL and CDSAPI_KEY "
    "(see https://cds.climate.copernicus.eu/how-to-api)."
)


class CDSCredentialsError(RuntimeError):
    """No usable CDS credentials were found."""


class CDSDownloadError(RuntimeError):
    """One or more months could not be downloaded after all retries."""


class CDSClient(Protocol):
    """What :func:`download` needs from a client: ``cdsapi.Client.retrieve(name, request, target)``."""

    def retrieve(self, name: str, request: dict[str, Any], target: str) -> Any: ...


def _rc_path() -> Path:
    return Path(os.environ.get("CDSAPI_RC", os.path.expanduser("~/.cdsapirc")))


def _read_rc(path: Path) -> dict[str, str]:
    config: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return config
    for line in text.splitlines():
        if ":" in line:
            k, v = line.strip().split(":", 1)
            if k in ("url", "key"):
                config[k] = v.strip()
    return config


def _secrets() -> list[str]:
    found = [os.environ.get("CDSAPI_KEY", ""), _read_rc(_rc_path()).get("key", "")]
    return [s for s in found if len(s) >= 4]


def _scrub(text: str) -> str:
    """Replace any known CDS key in ``text`` by ``***``."""
    for secret in _secrets():
        text = text.replace(secret, "***")
        if ":" in secret:  # legacy "UID:KEY" tokens: hide the key part on its own too
            text = text.replace(secret.split(":", 1)[1], "***")
    return text


def check_credentials() -> None:
    """Check cheaply (no network) that cdsapi will find a URL and a key, as cdsapi itself looks them up.

    Order: environment ``CDSAPI_URL``/``CDSAPI_KEY``, then the file named by ``CDSAPI_RC`` or else
    ``~/.cdsapirc``.

    Raises:
        CDSCredentialsError: when the URL or key is missing or empty (the message never contains the key).
    """
    url = os.environ.get("CDSAPI_URL")
    key = os.environ.get("CDSAPI_KEY")
    rc = _rc_path()
    if url is None or key is None:
        config = _read_rc(rc) if rc.is_file() else {}
        url = url if url is not None else config.get("url")
        key = key if key is not None else config.get("key")
    problems = []
    if not url:
        problems.append("no CDS API URL")
    if not key or any(c.isspace() for c in key):
        problems.append("no valid CDS API key")
    if problems:
        where = f"{rc} exists but is incomplete" if rc.is_file() else f"{rc} does not exist"
        raise CDSCredentialsError(
            f"Missing CDS credentials ({', '.join(problems)}; {where}; CDSAPI_URL/CDSAPI_KEY not both set). "
            + _CREDENTIALS_HELP
        )


def make_cds_client(*, retry_max: int = 5, sleep_max: float = 30.0, timeout: float = 120.0) -> CDSClient:
    """Create a real ``cdsapi.Client`` with bounded retries, after a fast credentials check.

    Args:
        retry_max: cdsapi's own retries of one HTTP call (its default, 500, hangs for hours offline).
        sleep_max: cdsapi's longest sleep between those retries, in seconds.
        timeout: HTTP timeout in seconds.

    Raises:
        CDSCredentialsError: within milliseconds when no credentials are configured.
    """
    check_credentials()
    import cdsapi

    return cdsapi.Client(
        retry_max=retry_max, sleep_max=sleep_max, timeout=timeout, quiet=True, progress=False
    )


def _fetch_month(
    client: CDSClient,
    request: CDSRequest,
    year: int,
    month: int,
    out_dir: Path,
    retries: int,
    backoff_s: float,
) -> Path:
    target = out_dir / request.filename(year, month)
    body = request.month_request(year, month)
    last = "no attempt"
    for attempt in range(retries + 1):
        tmp = out_dir / f".{target.name}.part-{uuid.uuid4().hex[:8]}"
        try:
            client.retrieve(request.dataset, dict(body), str(tmp))
            merge_zip_to_netcdf(tmp)
            problem = month_file_problem(tmp, request, year, month)
            if problem:
                raise ValueError(f"downloaded file is incomplete: {problem}")
            os.replace(tmp, target)
            logger.info("CDS %04d-%02d -> %s", year, month, target)
            return target
        except Exception as err:  # noqa: BLE001 - any failure of one attempt is retried
            last = _scrub(f"{type(err).__name__}: {err}")
            tmp.unlink(missing_ok=True)
            if attempt < retries:
                wait = backoff_s * 2**attempt
                logger.warning(
                    "CDS %04d-%02d attempt %d/%d failed (%s); retrying in %.1f s",
                    year,
                    month,
                    attempt + 1,
                    retries + 1,
                    last,
                    wait,
                )
                time.sleep(wait)
    raise CDSDownloadError(f"{year:04d}-{month:02d}: {last}")


def download(
    request: CDSRequest,
    out_dir: str | Path,
    *,
    client: CDSClient | None = None,
    client_factory: Callable[[], CDSClient] | None = None,
    max_concurrent: int = 2,
    retries: int = 3,
    backoff_s: float = 10.0,
) -> list[Path]:
    """Download every month of ``request`` into ``out_dir`` (``<dataset>_<YYYY>_<MM>.nc``), resumably.

    Args:
        request: what to download (defaults: the paper's request).
        out_dir: folder of the monthly files (created).
        client: a ready client with ``retrieve(name, request, target)``; shared by the worker threads.
        client_factory: called once to build the client when ``client`` is None; default
            :func:`make_cds_client` (checks credentials first). Not called if every month is complete.
        max_concurrent: most requests in flight at once (>= 1).
        retries: extra attempts per month after the first.
        backoff_s: wait before the first retry; doubles on each further retry.

    Returns:
        The monthly file paths, in chronological order.

    Raises:
        CDSCredentialsError: no credentials (default factory only), before any request.
        CDSDownloadError: months still failing after all retries; completed months are kept, so rerunning
            resumes where it stopped.
    """
    if max_concurrent < 1 or retries < 0 or backoff_s < 0:
        raise ValueError(
            f"Expected max_concurrent >= 1, retries >= 0, backoff_s >= 0; "
            f"got {max_concurrent}, {retries}, {backoff_s}."
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    months = request.months_list()
    paths = [out_dir / request.filename(y, m) for y, m in months]
    todo = []
    for (year, month), path in zip(months, paths, strict=True):
        problem = month_file_problem(path, request, year, month) if path.exists() else "missing"
        if problem is None:
            logger.info("CDS %04d-%02d complete, skipped (%s)", year, month, path.name)
        else:
            todo.append((year, month))
    if not todo:
        return paths
    for year, month in todo:  # leftovers of a killed run: never mistaken for data, but clean them up
        for stale in out_dir.glob(f".{request.filename(year, month)}.part-*"):
            stale.unlink(missing_ok=True)
    if client is None:
        client = (client_factory or make_cds_client)()
    failures = []
    with ThreadPoolExecutor(max_workers=max_concurrent) as pool:
        futures = [
            pool.submit(_fetch_month, client, request, y, m, out_dir, retries, backoff_s) for y, m in todo
        ]
        for future in futures:
            try:
                future.result()
            except CDSDownloadError as err:
                failures.append(str(err))
    if failures:
        raise CDSDownloadError(
            f"{len(failures)} of {len(todo)} months failed after {retries + 1} attempts each: "
            + "; ".join(failures)
            + f". Completed months are kept in {out_dir}; rerun to resume."
        )
    return paths
