#!/usr/bin/env bash
# Back up a server deployment: the PostgreSQL database (records, manifest, visit data) and the
# Chroma server's directory. Stop the Chroma server first (systemctl stop shegong-chroma, or
# `docker compose stop chroma`): a copy of a directory being written is not a backup. The API
# nodes answer chat with a Chinese 503 meanwhile and recover by themselves when it is back.
#
#   deploy/backup.sh POSTGRES_URL CHROMA_DIR BACKUP_DIR
#
# POSTGRES_URL is a libpq URL (postgresql://user@host:5432/shegong; the password from ~/.pgpass or
# PGPASSWORD, never on the command line). BACKUP_DIR must not exist yet. It gets shegong.dump
# (pg_dump's custom format), chroma.tar.gz and SHA256SUMS.
set -euo pipefail
if [ "$#" -ne 3 ]; then
  echo "用法：deploy/backup.sh POSTGRES_URL CHROMA_DIR BACKUP_DIR" >&2
  exit 2
fi
pg_url=$1 chroma_dir=$2 out=$3
if [ -e "$out" ]; then
  echo "备份目录 $out 已存在，请换一个新目录。" >&2
  exit 2
fi
if [ ! -d "$chroma_dir" ]; then
  echo "Chroma 目录 $chroma_dir 不存在。" >&2
  exit 2
fi
mkdir -p "$out.partial"
pg_dump --format=custom --file="$out.partial/shegong.dump" "$pg_url"
tar -C "$chroma_dir" -czf "$out.partial/chroma.tar.gz" .
(cd "$out.partial" && sha256sum shegong.dump chroma.tar.gz > SHA256SUMS)
mv "$out.partial" "$out"  # only a finished backup gets its name
echo "备份完成：$out"
