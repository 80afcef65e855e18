//! `--log-format` for observe's `LogFormat`, which has no clap derive so
//! that clap stays out of the libraries.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use serialmesh_observe::LogFormat;

/// `--log-format`: one of [`LogFormat::ALL`] by name, listed in `--help`,
/// completions and man pages.
pub fn log_format() -> impl TypedValueParser<Value = LogFormat> {
    PossibleValuesParser::new(LogFormat::ALL.map(LogFormat::name)).map(|name| {
        // The possible values are exactly the names, so one matches.
        LogFormat::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use serialmesh_observe::LogFormat;

    #[derive(Parser)]
    struct Cli {
        #[arg(long, value_parser = super::log_format(), default_value = "plain")]
        log_format: LogFormat,
    }

    #[test]
    fn log_format_takes_each_name_and_defaults_to_plain() {
        for format in LogFormat::ALL {
            let cli = Cli::parse_from(["x", "--log-format", format.name()]);
            assert_eq!(cli.log_format, format);
        }
        assert_eq!(Cli::parse_from(["x"]).log_format, LogFormat::Plain);
    }

    #[test]
    fn an_unknown_log_format_is_refused_with_the_possible_values() {
        let err = Cli::try_parse_from(["x", "--log-format", "xml"])
            .err()
            .expect("xml is not a log format")
            .to_string();
        assert!(err.contains("[possible values: plain, json]"), "{err}");
    }

    #[test]
    fn help_lists_the_log_formats_and_the_default() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("[default: plain]"), "{help}");
        assert!(help.contains("plain"), "{help}");
        assert!(help.contains("json"), "{help}");
    }
}
