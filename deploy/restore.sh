#!/usr/bin/env bash
# Restore a backup made by deploy/backup.sh into an EMPTY PostgreSQL database and an EMPTY
# Chroma directory, then start the Chroma server on that directory and the API nodes.
#
#   deploy/restore.sh BACKUP_DIR POSTGRES_URL CHROMA_DIR
#
# The database keeps its row-level security and the grants to the role shegong_askdata (问数);
# the role is made first if this PostgreSQL cluster lacks it (that needs CREATEROLE).
set -euo pipefail
if [ "$#" -ne 3 ]; then
  echo "用法：deploy/restore.sh BACKUP_DIR POSTGRES_URL CHROMA_DIR" >&2
  exit 2
fi
backup=$1 pg_url=$2 chroma_dir=$3
(cd "$backup" && sha256sum --check --quiet SHA256SUMS) || { echo "备份 $backup 不完整或已损坏（校验和不符）。" >&2; exit 1; }
if [ -d "$chroma_dir" ] && [ -n "$(ls -A "$chroma_dir")" ]; then
  echo "Chroma 目录 $chroma_dir 不是空目录：恢复只写入空目录，以免覆盖现有数据。" >&2
  exit 2
fi
tables=$(psql "$pg_url" -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != "0" ]; then
  echo "数据库里已经有表：恢复只写入空数据库，以免覆盖现有数据。" >&2
  exit 2
fi
psql "$pg_url" -v ON_ERROR_STOP=1 -qc "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shegong_askdata') THEN CREATE ROLE shegong_askdata NOLOGIN; END IF;
END \$\$"
pg_restore --no-owner --exit-on-error --dbname="$pg_url" "$backup/shegong.dump"
mkdir -p "$chroma_dir"
tar -C "$chroma_dir" -xzf "$backup/chroma.tar.gz"
echo "恢复完成：数据库和 Chroma 目录 $chroma_dir。现在启动 Chroma 服务和各 API 节点。"
