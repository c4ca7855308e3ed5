"""The torch-free data layer: sources (bundled ERA5 sample, CDS download), standardisation to one schema,
time splits, normalisation, Zarr task stores and Natural Earth country masks.

Import rule: this package uses xarray, dask, zarr and numpy only, never torch.
"""

from climate_bnnp.data.cds import (
    CDSCredentialsError,
    CDSDownloadError,
    CDSRequest,
    check_credentials,
    download,
    make_cds_client,
)
from climate_bnnp.data.cds_files import open_cds_files
from climate_bnnp.data.cluster import dask_client
from climate_bnnp.data.files import atomic_write, write_json_atomic, write_text_atomic
from climate_bnnp.data.mock import mock_era5
from climate_bnnp.data.normalise import TP_TRANSFORMS, Normaliser, fit_normaliser
from climate_bnnp.data.regions import country_mask, country_names
from climate_bnnp.data.sample import ERA5_ATTRIBUTION, ERA5_LAND_ATTRIBUTION, SAMPLE_PROVENANCE, open_sample
from climate_bnnp.data.schema import (
    COVARIATES,
    FEATURE_WIDTHS,
    InputSchema,
    check_dim_x,
    feature_dim,
    fit_input_schema,
)
from climate_bnnp.data.splits import split_times
from climate_bnnp.data.standardise import CANONICAL_DIMS, SOURCES, VARIABLES, standardise
from climate_bnnp.data.stores import (
    TaskKey,
    build_task_store,
    list_tasks,
    open_task_store,
    read_task,
    task_slices,
    tile_slices,
    write_zarr_atomic,
)

__all__ = [
    "CANONICAL_DIMS",
    "COVARIATES",
    "FEATURE_WIDTHS",
    "InputSchema",
    "check_dim_x",
    "feature_dim",
    "fit_input_schema",
    "CDSCredentialsError",
    "CDSDownloadError",
    "CDSRequest",
    "ERA5_ATTRIBUTION",
    "ERA5_LAND_ATTRIBUTION",
    "Normaliser",
    "SAMPLE_PROVENANCE",
    "SOURCES",
    "TP_TRANSFORMS",
    "TaskKey",
    "VARIABLES",
    "atomic_write",
    "build_task_store",
    "check_credentials",
    "country_mask",
    "country_names",
    "dask_client",
    "download",
    "fit_normaliser",
    "list_tasks",
    "make_cds_client",
    "mock_era5",
    "open_cds_files",
    "open_sample",
    "open_task_store",
    "read_task",
    "split_times",
    "standardise",
    "task_slices",
    "tile_slices",
    "write_json_atomic",
    "write_text_atomic",
    "write_zarr_atomic",
]
