"""A DAGs folder for a benchmark's Airflow: the test DAGs, and as many more generated ones as it
needs (each a single no-op task)."""

from __future__ import annotations

import shutil
from pathlib import Path

from testkit.airflow_harness import DAGS_FOLDER

GENERATED = '''\
"""{doc}"""

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.empty import EmptyOperator

for i in range({count}):
    with DAG(
        dag_id=f"{prefix}{{i:02d}}",
        description={description},
        schedule={schedule!r},
        start_date=pendulum.datetime(2022, 1, 1, tz="UTC"),
        catchup=False,
        tags={tags!r},
    ):
        EmptyOperator(task_id="noop")
'''


def dags_folder(
    path: Path,
    *,
    prefix: str,
    count: int,
    doc: str,
    description: str | None = None,
    schedule: str | None = None,
    tags: tuple[str, ...] = ("bench",),
) -> Path:
    """``path``, made, with the test DAGs and ``count`` DAGs ``<prefix>00``, ``<prefix>01``...
    (``description``: with ``{i}`` for the DAG's number)."""
    path.mkdir()
    for dag_file in DAGS_FOLDER.glob("*.py"):
        shutil.copy(dag_file, path / dag_file.name)
    text = GENERATED.format(
        doc=doc,
        count=count,
        prefix=prefix,
        description="None" if description is None else f"{description!r}.format(i=i)",
        schedule=schedule,
        tags=list(tags),
    )
    (path / f"{prefix.rstrip('_')}.py").write_text(text)
    return path
