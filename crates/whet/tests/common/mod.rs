//! Helpers shared by the CLI test binaries; each binary compiles its own copy (`mod common;`),
//! so each has its own scratch folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// This test binary's scratch folder under target/tmp, emptied the first time the binary asks
/// for it, so runs neither collide with nor pile up after earlier ones.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(env!("CARGO_CRATE_NAME"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// `name` in this binary's scratch folder (not created).
pub fn tmp(name: &str) -> PathBuf {
    scratch().join(name)
}

/// A new, empty folder `name` in this binary's scratch folder.
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = tmp(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One HTTP/1.1 exchange on a kept-alive connection: the head, and after `pause` the body, as
/// clients write them (two writes); returns the answer's status line and its headers
/// (lowercase), its body read, or an error when the connection closed without an answer.
pub fn exchange(
    conn: &mut std::net::TcpStream,
    head: &str,
    body: &[u8],
    pause: std::time::Duration,
) -> std::io::Result<(String, Vec<String>)> {
    use std::io::{BufRead, Read, Write};
    conn.write_all(head.as_bytes())?;
    if !body.is_empty() {
        std::thread::sleep(pause);
        conn.write_all(body)?;
    }
    let mut reader = std::io::BufReader::new(conn.try_clone()?);
    let mut status = String::new();
    if reader.read_line(&mut status)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the server closed the connection without an answer",
        ));
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    let length = headers
        .iter()
        .find_map(|h| h.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    reader.read_exact(&mut vec![0; length])?;
    Ok((status.trim_end().to_string(), headers))
}
