//! One module per command: `(repository, options, progress) -> outcome`. Nothing here
//! prints; the CLI renders outcomes.

pub mod add;
pub mod add_stdin;
pub mod cat;
pub mod checkout;
pub mod clone;
pub mod commit;
pub mod config;
pub mod diff;
pub mod export;
pub mod forget;
pub mod gc;
pub mod import;
pub mod init;
pub mod line;
pub mod log;
pub mod ls;
pub mod mount;
pub mod mv;
pub mod prove;
pub mod pull;
pub mod push;
pub mod reflog;
pub mod remote;
pub mod reset;
pub mod restore;
pub mod rm;
pub mod show;
pub mod stats;
pub mod status;
pub mod tag;
pub mod verify;
pub mod verify_proof;
pub mod watch;
