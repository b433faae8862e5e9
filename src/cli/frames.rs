//! `strata frames encode|decode`: frames in their human form
//! (`<type> <flags joined by |> <payload with escapes>`) to bytes and back.
//!
//! ```text
//! strata frames encode 'command-name have-args mycommand' 'command-argument eoa \x03\x00\x01\x00keyv' > req.bin
//! strata frames decode < req.bin
//! ```

use std::io::{BufRead, Read, Write};

use clap::Subcommand;
use strata_frames::{decode_all, human, MAX_FRAME_LIMIT};

/// What `strata frames` does.
#[derive(Subcommand, Debug)]
pub enum FramesCommand {
    /// Write the bytes of frames given as `<type> <flags> <payload>` — one
    /// per argument, or one per line of stdin when there is none. Types and
    /// flags by name or number, flags joined by `|` (`0`: none); payload
    /// escapes `\\ \n \r \t \0 \xHH`.
    Encode {
        /// Frames, e.g. 'command-name have-args|have-data hash'.
        frames: Vec<String>,
    },
    /// Read frame bytes on stdin and print each frame in the form `encode`
    /// takes, one a line.
    Decode {
        /// The largest payload accepted (default: any, 2^24-1).
        #[arg(long, default_value_t = MAX_FRAME_LIMIT)]
        max_frame: usize,
    },
}

/// Run `strata frames ...`.
pub fn run(cmd: FramesCommand) -> super::Result {
    match cmd {
        FramesCommand::Encode { frames } => encode(frames),
        FramesCommand::Decode { max_frame } => decode(max_frame),
    }
}

fn encode(frames: Vec<String>) -> super::Result {
    let lines: Vec<String> = if frames.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect()
    } else {
        frames
    };
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let f = human::parse(line).map_err(|e| format!("frame {}: {e}", i + 1))?;
        out.extend_from_slice(&f.to_bytes());
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(())
}

fn decode(max_frame: usize) -> super::Result {
    let mut bytes = Vec::new();
    std::io::stdin().lock().read_to_end(&mut bytes)?;
    let (frames, error) = decode_all(&bytes, max_frame);
    let mut stdout = std::io::stdout().lock();
    for f in &frames {
        writeln!(stdout, "{}", human::format(f))?;
    }
    stdout.flush()?;
    match error {
        None => Ok(()),
        Some(e) => Err(format!("after {} frame(s): {e}", frames.len()).into()),
    }
}
