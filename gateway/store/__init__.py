"""Durable state: models and migrations, config as code, the config snapshot, audit.

Modules: `db` (engines, transactions), `migrate`, `models`, `names` (IAM naming
rules), `config_schema` (validation), `config_db` (read/apply), `config_io`
(YAML import/export), `snapshot`, `audit`, `changelog`.
"""
