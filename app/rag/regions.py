"""The region tree (``knowledge/regions.yaml``): a rule's region can be a street, and a worker's
region has parents (宜川路街道 -> 普陀区 -> 上海市 -> 全国).

>>> t = RegionTree({"全国": {"上海市": {"普陀区": {"宜川路街道": {}}}}})
>>> sorted(t.lineage("宜川路街道"))
['上海市', '宜川路街道', '全国', '普陀区']
"""

from __future__ import annotations

from typing import Any


class RegionTree:
    def __init__(self, tree: dict[str, Any]) -> None:
        self.parent: dict[str, str | None] = {}
        stack: list[tuple[dict[str, Any], str | None]] = [(tree, None)]
        while stack:
            node, parent = stack.pop()
            for name, children in node.items():
                self.parent[str(name)] = parent
                if isinstance(children, dict):
                    stack.append((children, str(name)))

    def __contains__(self, name: object) -> bool:
        return name in self.parent

    def names(self) -> set[str]:
        return set(self.parent)

    def lineage(self, name: str) -> set[str]:
        """The region and all its ancestors (just the name when it is not in the tree)."""
        out = {name}
        cur = self.parent.get(name)
        while cur is not None and cur not in out:
            out.add(cur)
            cur = self.parent.get(cur)
        return out

    def path(self, name: str) -> list[str]:
        """From the root down to ``name``: ['全国', '上海市', '普陀区', '宜川路街道']."""
        out = [name]
        cur = self.parent.get(name)
        while cur is not None and cur not in out:
            out.append(cur)
            cur = self.parent.get(cur)
        return out[::-1]
