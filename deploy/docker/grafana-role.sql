-- The login role dashboards read PostgreSQL as: a member of dashboard_reader (created by the
-- migrations, allowed the reporting views and nothing else), read-only and time-limited.
-- Idempotent; run it after `merchant-gateway migrate`, as a role allowed to create roles:
--
--   psql -X -v ON_ERROR_STOP=1 -v login=grafana -v password="$(cat grafana_db_password)" \
--        -f deploy/docker/grafana-role.sql
--
-- On a read replica, run it on the primary: roles replicate with everything else.

SELECT format('CREATE ROLE %I LOGIN', :'login')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'login') \gexec

SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT '
              'CONNECTION LIMIT 10 PASSWORD %L', :'login', :'password') \gexec

GRANT dashboard_reader TO :"login";

SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'login') \gexec

-- A dashboard query never writes and never holds a connection for long.
ALTER ROLE :"login" SET default_transaction_read_only = on;
ALTER ROLE :"login" SET statement_timeout = '30s';
