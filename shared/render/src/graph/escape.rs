//! Escaping values for the filter script: the option layer (`key=value:…`), then the
//! filtergraph layer ([`filter_arg`] does both).

/// First layer: a value inside a filter's `key=value:key=value` option list
/// (`av_opt_set_from_string`): `\`, `'` and `:` are escaped with a backslash.
pub(crate) fn escape_option_value(value: &str) -> String {
    escape_chars(value, &['\\', '\'', ':'])
}

/// Second layer: a filter's whole argument string inside the filtergraph description
/// (`avfilter_graph_parse`): `\`, `'`, `[`, `]`, `,` and `;` are escaped with a backslash.
pub(crate) fn escape_filtergraph(value: &str) -> String {
    escape_chars(value, &['\\', '\'', '[', ']', ',', ';'])
}

/// A value as it must appear in the script: option layer first, then the filtergraph layer.
pub(crate) fn filter_arg(value: &str) -> String {
    escape_filtergraph(&escape_option_value(value))
}

fn escape_chars(value: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_both_layers() {
        assert_eq!(escape_option_value(r"a\b'c:d,e"), r"a\\b\'c\:d,e");
        assert_eq!(escape_filtergraph(r"a\b'c[d]e,f;g:h"), r"a\\b\'c\[d\]e\,f\;g:h");
        // Option layer first, then the graph layer escapes the option layer's backslashes again.
        assert_eq!(filter_arg(r"it's: 50% [a,b]; c\d"), r"it\\\'s\\: 50% \[a\,b\]\; c\\\\d");
        assert_eq!(filter_arg("gte(t,1)*lt(t,2)"), r"gte(t\,1)*lt(t\,2)");
        assert_eq!(filter_arg("/tmp/plain/path.txt"), "/tmp/plain/path.txt");
    }
}
