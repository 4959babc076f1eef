#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# the database, its owner (who runs the migrations) and the login roles of the services.
# sql/003_roles.sql (and 004_erasure.sql for dunning_privacy) then grant each group role only
# the table privileges it needs. The owner has no CREATEROLE, so every group role is created here.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_pw="$OWNER_DB_PASSWORD" -v engine_pw="$ENGINE_DB_PASSWORD" -v sender_pw="$SENDER_DB_PASSWORD" \
    -v portal_pw="$PORTAL_DB_PASSWORD" -v console_pw="$CONSOLE_DB_PASSWORD" <<'SQL'
CREATE ROLE dunning_owner LOGIN PASSWORD :'owner_pw';
CREATE DATABASE dunning OWNER dunning_owner;
CREATE ROLE dunning_engine NOLOGIN;
CREATE ROLE dunning_sender NOLOGIN;
CREATE ROLE dunning_reader NOLOGIN;
CREATE ROLE dunning_privacy NOLOGIN;
CREATE ROLE dunning_console NOLOGIN;
CREATE ROLE dunning_portal NOLOGIN;
CREATE ROLE engine LOGIN PASSWORD :'engine_pw' IN ROLE dunning_engine;
CREATE ROLE sender LOGIN PASSWORD :'sender_pw' IN ROLE dunning_sender;
CREATE ROLE portal LOGIN PASSWORD :'portal_pw' IN ROLE dunning_portal;
CREATE ROLE console LOGIN PASSWORD :'console_pw' IN ROLE dunning_console;
SQL
