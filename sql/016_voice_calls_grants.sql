-- The ledger of calls (015) for the roles of sql/003_roles.sql: sender-voice connects as a
-- sender; dunningctl's readers may read it.
GRANT SELECT, INSERT, UPDATE ON voice_calls TO dunning_sender;
GRANT USAGE, SELECT ON SEQUENCE voice_calls_id_seq TO dunning_sender;
GRANT SELECT ON voice_calls TO dunning_reader;
