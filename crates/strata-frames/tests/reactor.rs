//! The reactors, driven by events alone: frames in, actions out. No
//! transport, no harness, no handler.

use proptest::prelude::*;
use strata_frames::{
    human, Action, Bytes, ClientAction, ClientReactor, Command, Duplex, ErrorKind, Flags, Frame,
    FrameError, FrameType, ProtocolError, ServerConfig, ServerError, ServerReactor,
};

/// A frame from its human form.
fn f(s: &str) -> Frame {
    human::parse(s).unwrap()
}

fn arg(name: &str, value: &[u8]) -> Frame {
    let mut p = Vec::new();
    p.extend_from_slice(&(name.len() as u16).to_le_bytes());
    p.extend_from_slice(&(value.len() as u16).to_le_bytes());
    p.extend_from_slice(name.as_bytes());
    p.extend_from_slice(value);
    Frame::new(FrameType::CommandArgument, Flags::NONE, p)
}

fn with(mut fr: Frame, flags: Flags) -> Frame {
    fr.flags = flags;
    fr
}

fn run(name: &str, args: &[(&str, &str)], has_data: bool) -> Action {
    Action::Run(Command {
        name: Bytes::copy_from_slice(name.as_bytes()),
        args: args
            .iter()
            .map(|(k, v)| {
                (
                    Bytes::copy_from_slice(k.as_bytes()),
                    Bytes::copy_from_slice(v.as_bytes()),
                )
            })
            .collect(),
        has_data,
    })
}

fn data(d: &str, eos: bool) -> Action {
    Action::Data {
        data: Bytes::copy_from_slice(d.as_bytes()),
        eos,
    }
}

fn send(frames: &[&str]) -> Action {
    Action::Send(frames.iter().map(|s| f(s)).collect())
}

/// The error a reactor reports, with the error-response frame it sends.
fn error_of(a: Action) -> ProtocolError {
    match a {
        Action::Error { error, send } => {
            assert_eq!(send.len(), 1, "{send:?}");
            assert_eq!(send[0].kind, FrameType::ErrorResponse);
            assert_eq!(send[0].flags, Flags::PROTOCOL);
            assert_eq!(send[0].payload, error.to_string());
            error
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

fn full() -> ServerReactor {
    ServerReactor::new(ServerConfig::new(Duplex::Full))
}

#[test]
fn command_without_args_or_data() {
    let mut r = full();
    assert_eq!(
        r.on_frame(f("command-name eos mycommand")),
        run("mycommand", &[], false)
    );
    assert_eq!(r.awaiting(), 1);
    assert_eq!(
        r.on_response(Bytes::from("answer"), true),
        send(&["bytes-response eos answer"])
    );
    assert_eq!(r.awaiting(), 0);
    assert!(!r.should_close());
    assert_eq!(r.on_input_eof(), Action::Noop);
    assert!(r.should_close());
}

#[test]
fn arguments_then_data_streamed() {
    let mut r = full();
    assert_eq!(
        r.on_frame(f("command-name have-args|have-data put")),
        Action::WantFrame
    );
    assert_eq!(r.on_frame(arg("key", b"k1")), Action::WantFrame);
    assert_eq!(
        r.on_frame(with(arg("mode", b"fast"), Flags::EOA)),
        run("put", &[("key", "k1"), ("mode", "fast")], true)
    );
    assert_eq!(
        r.on_frame(f("command-data continuation hello ")),
        data("hello ", false)
    );
    assert_eq!(
        r.on_frame(f("command-data continuation world")),
        data("world", false)
    );
    assert_eq!(r.on_frame(f("command-data eos")), data("", true));
    // The next command on the same connection.
    assert_eq!(
        r.on_frame(f("command-name have-data cat")),
        run("cat", &[], true)
    );
    assert_eq!(r.on_frame(f("command-data eos x")), data("x", true));
    assert_eq!(r.awaiting(), 2);
}

#[test]
fn argument_values_span_frames() {
    let mut r = full();
    r.on_frame(f("command-name have-args lookup"));
    // name "key", value "abcdefgh" (8) over three frames.
    assert_eq!(
        r.on_frame(f(
            "command-argument continuation \\x03\\x00\\x08\\x00keyabc"
        )),
        Action::WantFrame
    );
    assert_eq!(
        r.on_frame(f("command-argument continuation def")),
        Action::WantFrame
    );
    assert_eq!(
        r.on_frame(f("command-argument eoa gh")),
        run("lookup", &[("key", "abcdefgh")], false)
    );
}

#[test]
fn responses_larger_than_a_frame_are_split() {
    let mut cfg = ServerConfig::new(Duplex::Full);
    cfg.max_frame = 4;
    let mut r = ServerReactor::new(cfg);
    r.on_frame(f("command-name eos big"));
    assert_eq!(
        r.on_response(Bytes::from("abcdefghij"), false),
        send(&[
            "bytes-response continuation abcd",
            "bytes-response continuation efgh",
            "bytes-response continuation ij"
        ])
    );
    assert_eq!(r.on_response(Bytes::new(), false), Action::Noop);
    assert_eq!(
        r.on_response(Bytes::from("klmno"), true),
        send(&["bytes-response continuation klmn", "bytes-response eos o"])
    );
}

#[test]
fn responses_answer_commands_in_order_and_errors_count() {
    let mut r = full();
    r.on_frame(f("command-name eos a"));
    r.on_frame(f("command-name eos b"));
    assert_eq!(r.awaiting(), 2);
    assert_eq!(
        r.on_application_error("no such key"),
        send(&["error-response application no such key"])
    );
    assert_eq!(
        r.on_response(Bytes::from("B"), true),
        send(&["bytes-response eos B"])
    );
    // Nothing awaits: a response now is the caller's bug, ignored.
    assert_eq!(r.on_response(Bytes::from("C"), true), Action::Noop);
    assert_eq!(r.on_application_error("x"), Action::Noop);
}

#[test]
fn half_duplex_holds_everything_until_input_eof() {
    let mut r = ServerReactor::new(ServerConfig::new(Duplex::Half));
    assert_eq!(
        r.on_frame(f("command-name eos one")),
        run("one", &[], false)
    );
    assert_eq!(r.on_response(Bytes::from("1"), true), Action::Noop);
    assert_eq!(
        r.on_frame(f("command-name have-data two")),
        run("two", &[], true)
    );
    assert_eq!(r.on_response(Bytes::from("2a"), false), Action::Noop);
    assert_eq!(r.on_frame(f("command-data eos")), data("", true));
    assert_eq!(r.on_response(Bytes::from("2b"), true), Action::Noop);
    assert_eq!(
        r.on_frame(f("command-name eos three")),
        run("three", &[], false)
    );
    assert_eq!(r.on_application_error("nope"), Action::Noop);
    assert!(r.deferred_bytes() > 0);
    assert!(!r.should_close());
    assert_eq!(
        r.on_input_eof(),
        send(&[
            "bytes-response eos 1",
            "bytes-response continuation 2a",
            "bytes-response eos 2b",
            "error-response application nope",
        ])
    );
    assert!(r.should_close());
    assert_eq!(r.deferred_bytes(), 0);
}

#[test]
fn half_duplex_answers_after_eof_go_out_at_once() {
    let mut r = ServerReactor::new(ServerConfig::new(Duplex::Half));
    r.on_frame(f("command-name eos slow"));
    assert_eq!(r.on_input_eof(), Action::Noop);
    assert!(!r.should_close(), "a command is still unanswered");
    assert_eq!(
        r.on_response(Bytes::from("late"), true),
        send(&["bytes-response eos late"])
    );
    assert!(r.should_close());
}

#[test]
fn half_duplex_protocol_error_waits_for_eof() {
    let mut r = ServerReactor::new(ServerConfig::new(Duplex::Half));
    r.on_frame(f("command-name eos ok"));
    r.on_response(Bytes::from("fine"), true);
    let a = r.on_frame(f("command-data eos stray"));
    let Action::Error { error, send } = a else {
        panic!("{a:?}")
    };
    assert!(matches!(error, ProtocolError::UnexpectedFrame { .. }));
    assert!(send.is_empty(), "nothing may be sent before the input ends");
    assert!(!r.should_close());
    assert_eq!(r.on_frame(f("command-name eos ignored")), Action::Noop);
    let Action::Send(frames) = r.on_input_eof() else {
        panic!()
    };
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0], f("bytes-response eos fine"));
    assert_eq!(frames[1].flags, Flags::PROTOCOL);
    assert!(r.should_close());
}

#[test]
fn half_duplex_buffer_is_bounded() {
    let mut cfg = ServerConfig::new(Duplex::Half);
    cfg.max_deferred = 100;
    let mut r = ServerReactor::new(cfg);
    r.on_frame(f("command-name eos big"));
    assert_eq!(
        r.on_response(Bytes::from(vec![b'x'; 60]), false),
        Action::Noop
    );
    let a = r.on_response(Bytes::from(vec![b'x'; 60]), false);
    assert!(
        matches!(
            a,
            Action::Error {
                error: ProtocolError::DeferredTooLarge(100),
                ..
            }
        ),
        "{a:?}"
    );
}

#[test]
fn malformed_sequences_are_protocol_errors() {
    type Setup = &'static [&'static str];
    let cases: &[(Setup, Frame, &str)] = &[
        (
            &[],
            f("command-data eos x"),
            "unexpected command-data frame",
        ),
        (
            &[],
            f("bytes-response eos x"),
            "unexpected bytes-response frame",
        ),
        (
            &[],
            f("error-response protocol x"),
            "unexpected error-response frame",
        ),
        (
            &[],
            f("command-argument eoa x"),
            "unexpected command-argument frame",
        ),
        (
            &[],
            f("command-name 0 x"),
            "one of eos, have-args, have-data is required",
        ),
        (&[], f("command-name eos|have-args x"), "eos with have-args"),
        (&[], f("command-name eos|have-data x"), "eos with have-args"),
        (&[], f("command-name eos"), "empty command name"),
        (
            &["command-name have-args c"],
            f("command-data eos x"),
            "while reading arguments",
        ),
        (
            &["command-name have-args c"],
            f("command-name eos c"),
            "while reading arguments",
        ),
        (
            &["command-name have-args c"],
            f("command-argument continuation|eoa \\x01\\x00\\x01\\x00kv"),
            "continuation with eoa",
        ),
        (
            &["command-name have-args c"],
            f("command-argument eoa \\x01\\x00"),
            "shorter than its 4-byte header",
        ),
        (
            &["command-name have-args c"],
            f("command-argument eoa \\x00\\x00\\x00\\x00"),
            "empty name",
        ),
        (
            &["command-name have-args c"],
            f("command-argument eoa \\x05\\x00\\x00\\x00ab"),
            "name longer than the frame",
        ),
        (
            &["command-name have-args c"],
            f("command-argument eoa \\x01\\x00\\x01\\x00kvv"),
            "value longer than its declared length",
        ),
        (
            &["command-name have-args c"],
            f("command-argument eoa \\x01\\x00\\x03\\x00kv"),
            "no continuation",
        ),
        (
            &["command-name have-args c"],
            f("command-argument continuation \\x01\\x00\\x01\\x00kv"),
            "continuation on a complete argument",
        ),
        (
            &[
                "command-name have-args c",
                "command-argument continuation \\x01\\x00\\x03\\x00kv",
            ],
            f("command-argument eoa vvv"),
            "continuation longer",
        ),
        (
            &[
                "command-name have-args c",
                "command-argument continuation \\x01\\x00\\x03\\x00kv",
            ],
            f("command-argument continuation vvv"),
            "continuation longer",
        ),
        (
            &[
                "command-name have-args c",
                "command-argument continuation \\x01\\x00\\x03\\x00kv",
            ],
            f("command-argument continuation vv"),
            "continuation after the value is complete",
        ),
        (
            &[
                "command-name have-args c",
                "command-argument continuation \\x01\\x00\\x03\\x00k",
            ],
            f("command-argument eoa v"),
            "value cut short",
        ),
        (
            &[
                "command-name have-args c",
                "command-argument continuation \\x01\\x00\\x03\\x00kv",
            ],
            f("command-data eos"),
            "unexpected command-data",
        ),
        (
            &["command-name have-data c"],
            f("command-data 0 x"),
            "exactly one of continuation, eos",
        ),
        (
            &["command-name have-data c"],
            f("command-data continuation|eos x"),
            "exactly one of continuation, eos",
        ),
        (
            &["command-name have-data c"],
            f("command-name eos d"),
            "while reading command data",
        ),
    ];
    for (setup, bad, expect) in cases {
        let mut r = full();
        for s in *setup {
            let a = r.on_frame(f(s));
            assert!(!matches!(a, Action::Error { .. }), "setup {s:?}: {a:?}");
        }
        let e = error_of(r.on_frame(bad.clone()));
        assert!(
            e.to_string().contains(expect),
            "{bad}: {e} (expected {expect:?})"
        );
        assert!(r.has_failed() && r.should_close(), "{bad}");
        // After an error: no more input, no more output.
        assert_eq!(r.on_frame(f("command-name eos again")), Action::Noop);
        assert_eq!(r.on_response(Bytes::from("x"), true), Action::Noop);
    }
}

#[test]
fn decode_errors_and_truncated_requests_are_answered() {
    let mut r = full();
    let e = error_of(r.on_decode_error(FrameError::Oversized {
        len: 40000,
        max: 32768,
    }));
    assert_eq!(
        e.to_string(),
        "frame of 40000 bytes exceeds the maximum of 32768"
    );

    for (setup, what) in [
        (vec!["command-name have-args c"], "while reading arguments"),
        (
            vec![
                "command-name have-args c",
                "command-argument continuation \\x01\\x00\\x03\\x00k",
            ],
            "while reading arguments",
        ),
        (
            vec!["command-name have-data c", "command-data continuation x"],
            "while reading command data",
        ),
    ] {
        let mut r = full();
        for s in setup {
            r.on_frame(f(s));
        }
        let e = error_of(r.on_input_eof());
        assert_eq!(e, ProtocolError::IncompleteRequest(what));
    }
}

#[test]
fn limits() {
    let mut cfg = ServerConfig::new(Duplex::Full);
    cfg.max_args = 2;
    cfg.max_arg_bytes = 10;
    cfg.max_pending = 2;
    let mut r = ServerReactor::new(cfg.clone());
    r.on_frame(f("command-name have-args c"));
    r.on_frame(arg("a", b"1"));
    r.on_frame(arg("b", b"2"));
    assert_eq!(
        error_of(r.on_frame(arg("c", b"3"))),
        ProtocolError::TooManyArguments(2)
    );

    let mut r = ServerReactor::new(cfg.clone());
    r.on_frame(f("command-name have-args c"));
    // Declared length counts, before the value arrives.
    let a = f("command-argument continuation \\x01\\x00\\x10\\x00k");
    assert_eq!(
        error_of(r.on_frame(a)),
        ProtocolError::ArgumentsTooLarge(10)
    );

    let mut r = ServerReactor::new(cfg);
    r.on_frame(f("command-name eos a"));
    r.on_frame(f("command-name eos b"));
    assert_eq!(
        error_of(r.on_frame(f("command-name eos c"))),
        ProtocolError::TooManyPending(2)
    );
}

// ----- the client reactor ----------------------------------------------------

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[test]
fn client_builds_requests() {
    let mut c = ClientReactor::new(16);
    let (frames, sender) = c.command(b"hash", &[], true).unwrap();
    assert_eq!(frames, vec![f("command-name have-data hash")]);
    let mut s = sender.unwrap();
    let mut out = Vec::new();
    s.push(&mut out, b("0123456789abcdefXYZ"), false);
    s.push(&mut out, Bytes::new(), true);
    assert_eq!(
        out,
        vec![
            f("command-data continuation 0123456789abcdef"),
            f("command-data continuation XYZ"),
            f("command-data eos"),
        ]
    );
    assert!(s.is_done());

    let (frames, sender) = c
        .command(
            b"get",
            &[(b("k"), b("v")), (b("key2"), b("0123456789abcdefghij"))],
            false,
        )
        .unwrap();
    assert!(sender.is_none());
    assert_eq!(
        frames,
        vec![
            f("command-name have-args get"),
            f("command-argument 0 \\x01\\x00\\x01\\x00kv"),
            f("command-argument continuation \\x04\\x00\\x14\\x00key201234567"),
            f("command-argument eoa 89abcdefghij"),
        ]
    );
    assert_eq!(
        c.command(b"ping", &[], false).unwrap().0,
        vec![f("command-name eos ping")]
    );
    assert_eq!(c.awaiting(), 3);

    assert!(c.command(b"", &[], false).is_err());
    assert!(c.command(b"x", &[(b(""), b("v"))], false).is_err());
    assert!(c
        .command(b"x", &[(b("k"), Bytes::from(vec![0; 70000]))], false)
        .is_err());
}

#[test]
fn client_reassembles_responses() {
    let mut c = ClientReactor::default();
    c.command(b"a", &[], false).unwrap();
    c.command(b"b", &[], false).unwrap();
    assert_eq!(
        c.on_frame(f("bytes-response continuation he")),
        ClientAction::Response {
            data: b("he"),
            eos: false
        }
    );
    assert_eq!(
        c.on_frame(f("bytes-response eos llo")),
        ClientAction::Response {
            data: b("llo"),
            eos: true
        }
    );
    assert_eq!(
        c.on_frame(f("error-response application no")),
        ClientAction::Failed(ServerError {
            kind: ErrorKind::Application,
            message: "no".into()
        })
    );
    assert_eq!(c.awaiting(), 0);
    assert_eq!(c.on_input_eof(), None);
}

#[test]
fn client_refuses_what_a_server_must_not_send() {
    for (setup, bad) in [
        (1, "command-name eos x"),
        (1, "command-data eos x"),
        (1, "bytes-response 0 x"),
        (1, "bytes-response continuation|eos x"),
        (1, "error-response 0 x"),
        (1, "error-response protocol|application x"),
        (0, "bytes-response eos x"),
        (0, "error-response application x"),
    ] {
        let mut c = ClientReactor::default();
        for _ in 0..setup {
            c.command(b"a", &[], false).unwrap();
        }
        assert!(
            matches!(c.on_frame(f(bad)), ClientAction::Error(_)),
            "{bad}"
        );
        assert!(c.has_failed());
        assert_eq!(c.on_frame(f("bytes-response eos x")), ClientAction::Noop);
    }
    // The server's protocol error may come with nothing pending.
    let mut c = ClientReactor::default();
    assert!(matches!(
        c.on_frame(f("error-response protocol bad")),
        ClientAction::Failed(ServerError {
            kind: ErrorKind::Protocol,
            ..
        })
    ));
    // Unanswered at the end.
    let mut c = ClientReactor::default();
    c.command(b"a", &[], false).unwrap();
    assert_eq!(c.on_input_eof(), Some(ProtocolError::IncompleteResponse(1)));
}

fn any_args() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 1..40),
            proptest::collection::vec(any::<u8>(), 0..300),
        ),
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the client builds, the server reads back exactly: name,
    /// arguments (values spanning frames), data pieces, for several
    /// commands in a row; and the server's responses reassemble exactly.
    #[test]
    fn client_and_server_reactors_agree(
        cmds in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 1..20), any_args(), proptest::option::of(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4))), 1..5),
        max_frame in 48usize..200,
        answer in proptest::collection::vec(any::<u8>(), 0..700),
    ) {
        let mut c = ClientReactor::new(max_frame);
        let mut cfg = ServerConfig::new(Duplex::Full);
        cfg.max_frame = max_frame;
        let mut s = ServerReactor::new(cfg);
        for (name, args, data) in &cmds {
            let args: Vec<(Bytes, Bytes)> = args.iter().map(|(k, v)| (Bytes::from(k.clone()), Bytes::from(v.clone()))).collect();
            let (mut frames, sender) = c.command(name, &args, data.is_some()).unwrap();
            if let (Some(mut sender), Some(pieces)) = (sender, data) {
                for p in pieces {
                    sender.push(&mut frames, Bytes::from(p.clone()), false);
                }
                sender.push(&mut frames, Bytes::new(), true);
            }
            let mut got_data = Vec::new();
            let mut ran = None;
            for fr in frames {
                prop_assert!(fr.payload.len() <= max_frame);
                match s.on_frame(fr) {
                    Action::Run(cmd) => ran = Some(cmd),
                    Action::Data { data, .. } => got_data.extend_from_slice(&data),
                    Action::WantFrame => {}
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            let cmd = ran.expect("the command ran");
            prop_assert_eq!(&cmd.name[..], &name[..]);
            prop_assert_eq!(&cmd.args, &args);
            prop_assert_eq!(cmd.has_data, data.is_some());
            let want: Vec<u8> = data.iter().flatten().flatten().copied().collect();
            prop_assert_eq!(got_data, want);

            let Action::Send(out) = s.on_response(Bytes::from(answer.clone()), true) else { panic!() };
            let mut back = Vec::new();
            let mut ended = false;
            for fr in out {
                match c.on_frame(fr) {
                    ClientAction::Response { data, eos } => { back.extend_from_slice(&data); ended = eos; }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            prop_assert!(ended);
            prop_assert_eq!(&back, &answer);
        }
        prop_assert_eq!(c.awaiting(), 0);
        prop_assert_eq!(s.awaiting(), 0);
    }
}
