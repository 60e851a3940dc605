-- Read-only access for Grafana's data source: the tables the dashboard reads and, of meters
-- and sites, only the columns it shows (not the key hashes). Run as the database's owner
-- after creating the login (docs/integrations.md):
--   psql -d wattwise -v ON_ERROR_STOP=1 -f deploy/grafana/grafana-reader.sql
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON readings, rollup_1m, rollup_1h, rollup_1d TO grafana_reader;
GRANT SELECT (id, site_id, name) ON devices TO grafana_reader;
GRANT SELECT (id, name, timezone) ON sites TO grafana_reader;
