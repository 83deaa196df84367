"""``shegong region``: the operator's regions below a street (居委), where the visit module's
households live; ``knowledge/regions.yaml`` holds the tree down to streets."""

from __future__ import annotations

import click

from app.cli.base import Ctx, fail, main
from app.core.errors import ShegongError


def _regions(obj: Ctx):  # type: ignore[no-untyped-def]
    from app.service.db import ServiceDB
    from app.service.factory import load_region_tree
    from app.service.visits.scope import Regions

    s = obj.settings
    return Regions(ServiceDB(s.service_db_url), load_region_tree(s.regions_file))


@main.group()
def region() -> None:
    """地区：add | list（在街道下面添加居委）。"""


@region.command("add")
@click.argument("name")
@click.option("--parent", required=True, help="上级地区，如 宜川路街道")
@click.pass_obj
def region_add(obj: Ctx, name: str, parent: str) -> None:
    """在地区表中添加一个居委（或更下级的地区）。"""
    try:
        _regions(obj).add(name, parent, by="cli")
    except ShegongError as exc:
        fail(exc)
        return
    click.echo(f"已添加地区 {name}（上级：{parent}）")


@region.command("list")
@click.pass_obj
def region_list(obj: Ctx) -> None:
    """列出已添加的地区（knowledge/regions.yaml 以外的）。"""
    for r in _regions(obj).local():
        click.echo(f"{r['name']}\t{r['parent']}\t{'示例（虚构）' if r['demo'] else ''}")
