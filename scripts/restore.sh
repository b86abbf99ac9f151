#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh (`make backup`):
#
#   scripts/restore.sh backups/faas-<UTC time>      (make restore BACKUP=backups/faas-...)
#
# into the database and code storage the environment names (as for the platform:
# DATABASE_URL or DB_*, STORAGE_BASE_DIR). The database is created when missing. A database
# that holds functions, invocations or API keys is replaced only with FORCE=1: pg_restore
# --clean --if-exists drops the platform's tables and restores them, in one transaction (a
# failure leaves the database as it was). Stored code is unpacked next to what is there
# (content-addressed: the same name is the same code).
#
# Stop the platform first. Then start it with the SECRETS_KEY of the backed-up installation
# (not in the backup) to read functions' environments; run `make migrate-up` if this checkout
# has migrations newer than the backup. Redis is not restored: workers queue pending
# invocations again from the database.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/backup.sh
source "$here/backup.sh"

need_tools pg_restore psql tar

backup="${1:-}"
[[ -n $backup ]] || die "usage: $0 BACKUP_DIR (make restore BACKUP=backups/faas-...)"
backup="${backup%/}"
for f in db.dump storage.tar.gz; do
  [[ -f $backup/$f ]] || die "$backup/$f not found: not a backup made by scripts/backup.sh"
done
force="${FORCE:-0}"

db_setup

# The target database, created if missing.
psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB_ADMIN_CONN" -v db="$DB_TARGET_NAME" >/dev/null <<'SQL' ||
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')
\gexec
SQL
  die "cannot reach or create database $DB_LABEL"

# Rows the restore would replace: functions, invocations, API keys (a migrated but unused
# database counts as empty).
rows_in_target() {
  local table n total=0
  for table in functions invocations api_keys; do
    n="$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB_CONN" -v t="public.$table" <<'SQL'
SELECT CASE WHEN to_regclass(:'t') IS NULL THEN 'SELECT 0' ELSE format('SELECT count(*) FROM %s', to_regclass(:'t')) END
\gexec
SQL
    )" || exit 2
    printf '%s %s, ' "$n" "${table//_/ }"
    total=$((total + n))
  done
  [[ $total -eq 0 ]]
}
held_status=0
held="$(rows_in_target)" || held_status=$?
[[ $held_status -ne 2 ]] || die "cannot read database $DB_LABEL"
if [[ $held_status -ne 0 ]]; then
  if [[ $force != 1 ]]; then
    die "database $DB_LABEL is not empty (${held%, }); restoring would replace it. Run again with FORCE=1 to do so"
  fi
  echo "restore: FORCE=1: replacing database $DB_LABEL (${held%, })"
fi

echo "restore: database $DB_LABEL from $backup/db.dump"
pg_restore --clean --if-exists --no-owner --no-acl --single-transaction -d "$DB_CONN" "$backup/db.dump"

echo "restore: stored code into $STORAGE_DIR from $backup/storage.tar.gz"
mkdir -p "$STORAGE_DIR"
tar -xzf "$backup/storage.tar.gz" -C "$STORAGE_DIR" --no-same-owner

counts="$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB_CONN" -c \
  "SELECT format('%s functions, %s invocations, %s api keys', (SELECT count(*) FROM functions), (SELECT count(*) FROM invocations), (SELECT count(*) FROM api_keys))")"
files="$(find "$STORAGE_DIR" -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' | wc -l)"
echo "restore: done: $counts; $files stored code files in $STORAGE_DIR"
if [[ -f $backup/manifest.json ]] && command -v jq >/dev/null; then
  echo "restore: the backup says: $(jq -c '.counts' "$backup/manifest.json") (made $(jq -r '.created_at' "$backup/manifest.json"))"
fi
echo "restore: start the platform with the SECRETS_KEY of the backed-up installation (it is not in the backup)"
