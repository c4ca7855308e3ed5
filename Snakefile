# ERA5 precipitation pipeline: download -> standardise -> build_tasks -> train -> predict (+ baselines)
# -> evaluate -> maps.
#
#   snakemake all                                         # the bundled real ERA5 sample (demo, < 10 min on 2 cores)
#   snakemake all --configfile configs/test.yaml          # tiny smoke run (~1 min)
#   snakemake all --configfile configs/era5land_ceurope.yaml   # the paper's setting (CDS download, one GPU)
#   snakemake --profile profiles/slurm all --configfile ...     # every job on a SLURM cluster (`cluster` extra)
#
# `--configfile X` is applied over the code's defaults (climate_bnnp.config), never over the demo: a key X does
# not give takes the code's default. Without --configfile the run is the demo, configs/sample.yaml (--config
# values apply over it). The resolved config is validated at parse time (unknown keys and bad values fail, and
# the sections must agree: features vs dim_x, likelihood vs tp_transform, split sizes), its differences from the
# defaults are printed at the start of a run, and it is written to results/<name>/config.yaml, the one file
# every step reads; a config change reruns the chain (params are a rerun trigger). Cores come from
# profiles/default/config.yaml.
# All derived files carry the ERA5 CC-BY attribution ("ERA5 ... Source: ECMWF.").

import json
import sys

from climate_bnnp.config import config_changes, config_to_dict, resolve_workflow_config

DEMO_CONFIG = f"{workflow.basedir}/configs/sample.yaml"
CONFIG_FILES = [str(f) for f in workflow.overwrite_configfiles] or [DEMO_CONFIG]
CFG = resolve_workflow_config(config, configfiles=workflow.overwrite_configfiles, demo=DEMO_CONFIG)
NAME = CFG.data.name
DATA = f"{CFG.data.data_dir}/{NAME}"
RES = f"{CFG.data.results_dir}/{NAME}"
LOGS = f"logs/{NAME}"
PRIORS = ["learned", "standard"]
BASELINES = ["kriging", "kriging_cov", "idw", "context_mean"]  # per-task methods a geoscientist would use instead
PROTOCOLS = ["random"] + (["held_out"] if CFG.data.held_out_country else [])
PIPE = f"{workflow.basedir}/pipelines"
CONFIG_JSON = json.dumps(config_to_dict(CFG), sort_keys=True)
# train: one process, or train.distributed.nproc data-parallel ones under torchrun (one GPU each unless on CPU)
NPROC = CFG.train.distributed.nproc
TRAIN = "python" if NPROC == 1 else f"torchrun --standalone --nproc-per-node {NPROC} --"  # --: script args follow
TRAIN_GPUS = 0 if CFG.train.device == "cpu" else NPROC  # a cluster profile's GPU request (profiles/slurm)


onstart:
    changes = "\n".join(f"  {line}" for line in config_changes(CFG)) or "  (none)"
    print(f"config {' + '.join(CONFIG_FILES)} over the code's defaults; values that differ:\n{changes}", file=sys.stderr)


localrules:
    all,
    config,


rule all:
    input:
        f"{RES}/metrics.json",
        f"{RES}/metrics.nc",
        f"{RES}/metrics.md",
        expand(f"{RES}/maps/{{prior}}_{{protocol}}.png", prior=PRIORS, protocol=PROTOCOLS),


rule config:
    output:
        f"{RES}/config.yaml",
    params:
        cfg=CONFIG_JSON,
    log:
        f"{LOGS}/config.log",
    shell:
        "python {PIPE}/resolve_config.py --json {params.cfg:q} --out {output} > {log} 2>&1"


rule download:
    input:
        rules.config.output,
    output:
        f"{DATA}/raw/manifest.json",
    log:
        f"{LOGS}/download.log",
    threads: 1
    resources:
        cds_requests=CFG.data.max_concurrent,
    shell:
        "python {PIPE}/download.py --config {input} --out {output} > {log} 2>&1"


rule standardise:
    input:
        config=rules.config.output,
        manifest=rules.download.output,
    output:
        f"{DATA}/standardised.zarr/zarr.json",  # the store's root metadata: written last (atomic rename)
    params:
        store=f"{DATA}/standardised.zarr",
    log:
        f"{LOGS}/standardise.log",
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "python {PIPE}/standardise.py --config {input.config} --manifest {input.manifest} --out {params.store} > {log} 2>&1"


rule build_tasks:
    input:
        config=rules.config.output,
        data=rules.standardise.output,
    output:
        f"{DATA}/tasks.zarr/zarr.json",
    params:
        data=f"{DATA}/standardised.zarr",
        store=f"{DATA}/tasks.zarr",
    log:
        f"{LOGS}/build_tasks.log",
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "python {PIPE}/build_tasks.py --config {input.config} --input {params.data} --out {params.store} > {log} 2>&1"


rule train:
    input:
        config=rules.config.output,
        store=rules.build_tasks.output,
    output:
        checkpoint=f"{RES}/checkpoints/{{prior}}.pt",
        history=f"{RES}/train_{{prior}}.jsonl",
    wildcard_constraints:
        prior="learned|standard",
    params:
        store=f"{DATA}/tasks.zarr",
    log:
        f"{LOGS}/train_{{prior}}.log",
    threads: 1
    resources:
        mem_mb=8000,
        gpu=TRAIN_GPUS,
    shell:
        "{TRAIN} {PIPE}/train.py --config {input.config} --store {params.store} --prior {wildcards.prior}"
        " --out {output.checkpoint} --log {output.history} --threads {threads} > {log} 2>&1"


rule predict:
    input:
        config=rules.config.output,
        store=rules.build_tasks.output,
        checkpoint=f"{RES}/checkpoints/{{prior}}.pt",
    output:
        f"{RES}/predictions/{{prior}}.zarr/zarr.json",
    wildcard_constraints:
        prior="learned|standard",
    params:
        store=f"{DATA}/tasks.zarr",
        out=lambda wc: f"{RES}/predictions/{wc.prior}.zarr",
    log:
        f"{LOGS}/predict_{{prior}}.log",
    threads: 1
    resources:
        mem_mb=8000,
    shell:
        "python {PIPE}/predict.py --config {input.config} --store {params.store} --checkpoint {input.checkpoint}"
        " --out {params.out} --threads {threads} > {log} 2>&1"


rule baseline:
    input:
        config=rules.config.output,
        store=rules.build_tasks.output,
    output:
        f"{RES}/predictions/{{method}}.zarr/zarr.json",
    wildcard_constraints:
        method="|".join(BASELINES),
    params:
        store=f"{DATA}/tasks.zarr",
        out=lambda wc: f"{RES}/predictions/{wc.method}.zarr",
    log:
        f"{LOGS}/baseline_{{method}}.log",
    threads: 1
    shell:
        "python {PIPE}/baseline.py --config {input.config} --store {params.store} --method {wildcards.method}"
        " --out {params.out} > {log} 2>&1"


rule evaluate:
    input:
        config=rules.config.output,
        predictions=expand(f"{RES}/predictions/{{method}}.zarr/zarr.json", method=PRIORS + BASELINES),
    output:
        json=f"{RES}/metrics.json",
        netcdf=f"{RES}/metrics.nc",
        markdown=f"{RES}/metrics.md",
    params:
        pairs=" ".join(f"{p}={RES}/predictions/{p}.zarr" for p in PRIORS + BASELINES),
    log:
        f"{LOGS}/evaluate.log",
    threads: 1
    shell:
        "python {PIPE}/evaluate.py --config {input.config} --predictions {params.pairs}"
        " --json {output.json} --netcdf {output.netcdf} --markdown {output.markdown} > {log} 2>&1"


rule maps:
    input:
        config=rules.config.output,
        predictions=f"{RES}/predictions/{{prior}}.zarr/zarr.json",
    output:
        [f"{RES}/maps/{{prior}}_{p}.png" for p in PROTOCOLS],
    params:
        predictions=lambda wc: f"{RES}/predictions/{wc.prior}.zarr",
        random=lambda wc: f"{RES}/maps/{wc.prior}_random.png",
        held_out=lambda wc: f"--out-held-out {RES}/maps/{wc.prior}_held_out.png" if "held_out" in PROTOCOLS else "",
    wildcard_constraints:
        prior="learned|standard",
    log:
        f"{LOGS}/maps_{{prior}}.log",
    threads: 1
    shell:
        "python {PIPE}/maps.py --config {input.config} --predictions {params.predictions}"
        " --out-random {params.random} {params.held_out} > {log} 2>&1"
