//! The version of what this node writes to its data directory.
//!
//! The storage crate versions its containers (segment, snapshot and state-file headers), but the
//! payloads inside them are this crate's types encoded with postcard, which has no schema: a
//! build whose `Command` or data tree differs would misread them silently. A stamp file in the
//! data dir names the payload format, so such a build refuses to start instead, with advice.

use std::path::{Path, PathBuf};

/// The payload format this build reads and writes. Bump it with any change to the encoding
/// of `Command`, the data tree, or the snapshot meta.
pub const DATA_FORMAT: u32 = 1;

const STAMP_FILE: &str = "corral-data-format";
const STAMP_PREFIX: &str = "corral-data-format ";

#[derive(Debug, thiserror::Error)]
pub enum DataFormatError {
    #[error(
        "{path} says the data was written in Corral data format {found}, but this build reads format {DATA_FORMAT}; \
         run a Corral release that reads format {found}, or wipe this member's data directory and let it resync from the others"
    )]
    Unsupported { path: PathBuf, found: u32 },
    #[error(
        "{path} is not a Corral data-format stamp ({content:?}); restore it to `{STAMP_PREFIX}{DATA_FORMAT}` if this directory holds Corral data, or point the node at another directory"
    )]
    Unreadable { path: PathBuf, content: String },
    #[error("cannot {action} {path}: {source}; check that the data directory is writable")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads a stamp's text: the format it names.
fn parse_stamp(text: &str) -> Option<u32> {
    text.trim().strip_prefix(STAMP_PREFIX)?.trim().parse().ok()
}

/// Checks the stamp in `dir`, writing one for this build's format if there is none (a new
/// directory, or data from the first format, which predates the stamp).
pub fn check_or_stamp(dir: &Path) -> Result<(), DataFormatError> {
    let path = dir.join(STAMP_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match parse_stamp(&text) {
            Some(DATA_FORMAT) => Ok(()),
            Some(found) => Err(DataFormatError::Unsupported { path, found }),
            None => Err(DataFormatError::Unreadable {
                path,
                content: text.chars().take(64).collect(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|source| DataFormatError::Io {
                action: "create",
                path: dir.to_path_buf(),
                source,
            })?;
            std::fs::write(&path, format!("{STAMP_PREFIX}{DATA_FORMAT}\n")).map_err(|source| {
                DataFormatError::Io {
                    action: "write",
                    path: path.clone(),
                    source,
                }
            })
        }
        Err(source) => Err(DataFormatError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_only_in_their_own_form() {
        assert_eq!(parse_stamp("corral-data-format 1\n"), Some(1));
        assert_eq!(parse_stamp("corral-data-format 12"), Some(12));
        assert_eq!(parse_stamp("corral-data-format x"), None);
        assert_eq!(parse_stamp("1"), None);
        assert_eq!(parse_stamp(""), None);
    }

    #[test]
    fn a_new_directory_is_stamped_and_then_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        check_or_stamp(&data).unwrap();
        let text = std::fs::read_to_string(data.join(STAMP_FILE)).unwrap();
        assert_eq!(parse_stamp(&text), Some(DATA_FORMAT));
        check_or_stamp(&data).unwrap();
    }

    #[test]
    fn another_format_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STAMP_FILE), "corral-data-format 99\n").unwrap();
        let err = check_or_stamp(dir.path()).unwrap_err();
        assert!(matches!(
            err,
            DataFormatError::Unsupported { found: 99, .. }
        ));
        let text = err.to_string();
        assert!(
            text.contains("format 99") && text.contains("resync"),
            "{text}"
        );

        std::fs::write(dir.path().join(STAMP_FILE), "garbage").unwrap();
        assert!(matches!(
            check_or_stamp(dir.path()),
            Err(DataFormatError::Unreadable { .. })
        ));
    }
}
