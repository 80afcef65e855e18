//! Shell completions and man pages come from the command lines themselves,
//! and work with the tools that read them: bash's programmable completion
//! and man-db's `man`.

use std::path::Path;
use std::time::Duration;

use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, run_to_end};

const T: Duration = Duration::from_secs(20);

fn run(bin: &Path, args: &[&str]) -> (i32, String, String) {
    run_to_end(bin, args.iter().copied(), T)
}

#[test]
fn bash_completion_of_serialctl_offers_its_commands() {
    let (code, script, err) = run(&bins::serialctl(), &["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let dir = temp_dir();
    let file = dir.path().join("serialctl.bash");
    std::fs::write(&file, script).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(serialctl ''); COMP_CWORD=1; _serialctl serialctl '' serialctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let (code, out, err) = run(Path::new("bash"), &["-c", &probe]);
    assert_eq!(code, 0, "{err}");
    for word in [
        "connect",
        "sidecar",
        "ls",
        "pki",
        "doctor",
        "completions",
        "man",
    ] {
        assert!(out.lines().any(|l| l == word), "no {word} in:\n{out}");
    }
}

#[test]
fn every_shell_gets_a_script_from_both_binaries() {
    for bin in [bins::serialctl(), bins::seriald()] {
        for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
            let (code, out, err) = run(&bin, &["completions", shell]);
            assert_eq!(code, 0, "{shell}: {err}");
            assert!(out.len() > 200, "{shell}: {out}");
        }
    }
    let (code, _, err) = run(&bins::serialctl(), &["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

#[test]
fn man_pages_render_with_man_and_cover_every_command() {
    let dir = temp_dir();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = run(&bins::serialctl(), &["man", "--dir", d]);
    assert_eq!(code, 0, "{err}");
    for page in [
        "serialctl.1",
        "serialctl-connect.1",
        "serialctl-pki-revoke.1",
    ] {
        assert!(out.contains(page), "{page} not written:\n{out}");
    }
    let (code, out, err) = run(&bins::seriald(), &["man", "--dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("seriald-devices.1"), "{out}");

    let render = |page: &str| {
        let path = dir.path().join(page);
        let (code, out, err) = run_to_end(
            "env",
            ["MANWIDTH=120", "man", "-l", path.to_str().unwrap()],
            T,
        );
        assert_eq!(code, 0, "man -l {page}: {err}");
        out
    };
    let connect = render("serialctl-connect.1");
    assert!(connect.contains("--agent-fingerprint"), "{connect}");
    assert!(connect.contains("--allow-user"), "{connect}");
    let seriald = render("seriald.1");
    assert!(seriald.contains("--config"), "{seriald}");
}

#[test]
fn man_into_a_missing_directory_is_a_usage_error_that_names_it() {
    for (bin, name) in [
        (bins::serialctl(), "serialctl"),
        (bins::seriald(), "seriald"),
    ] {
        let (code, _, err) = run(&bin, &["man", "--dir", "/nonexistent/man1"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.starts_with(&format!("{name}: cannot write /nonexistent/man1/{name}.1"))
                && err.contains("give an existing directory with --dir"),
            "{err}"
        );
    }
}
