//! JAAS login configuration files, the format ZooKeeper reads its SASL users from
//! (`-Djava.security.auth.login.config=FILE`):
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="adminsecret"
//!     user_bob="bobsecret";
//! };
//! ```
//!
//! The grammar is Java's `ConfigFile`: sections `Name { Module Flag key=value ... ; ... };`,
//! `//` and `/* */` comments, values quoted (with backslash escapes) or bare words. Java's
//! `${property}` expansion is not done: such a value is taken literally.

use std::path::{Path, PathBuf};

/// A parsed file: its sections in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JaasFile {
    pub sections: Vec<Section>,
}

/// One login context (`Server`, `Client`, `QuorumServer`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub modules: Vec<LoginModule>,
}

/// One login module line: class, control flag, options in file order.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginModule {
    pub class: String,
    pub flag: String,
    pub options: Vec<(String, String)>,
}

// Options hold passwords: never print their values.
impl std::fmt::Debug for LoginModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("LoginModule")
            .field("class", &self.class)
            .field("flag", &self.flag)
            .field("option_keys", &keys)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JaasError {
    #[error("cannot read the JAAS file {path}: {source}; check the path given to --jaas-config")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "JAAS file {path} line {line}: {message}; expected sections like \
         `Server {{ org.apache.zookeeper.server.auth.DigestLoginModule required user_NAME=\"PASSWORD\"; }};`"
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl JaasFile {
    pub fn read(path: &Path) -> Result<JaasFile, JaasError> {
        let text = std::fs::read_to_string(path).map_err(|source| JaasError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        JaasFile::parse(&text).map_err(|(line, message)| JaasError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        })
    }

    /// Parse a file's text; an error is (line, what was wrong).
    pub fn parse(text: &str) -> Result<JaasFile, (usize, String)> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, at: 0 };
        let mut file = JaasFile::default();
        while parser.peek().is_some() {
            let section = parser.section()?;
            if file.sections.iter().any(|s| s.name == section.name) {
                return Err((
                    parser.line(),
                    format!("section {:?} appears twice", section.name),
                ));
            }
            file.sections.push(section);
        }
        Ok(file)
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '$' | '-' | '*' | '.' | '/' | ':' | '+' | '@')
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, (usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let start = line;
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == '\n' {
                        line += 1;
                    } else if c == '*' && chars.peek() == Some(&'/') {
                        chars.next();
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err((start, "a /* comment is not closed".into()));
                }
            }
            '"' => {
                let start = line;
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err((start, "a quoted value is not closed".into())),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some(other) => value.push(other),
                            None => return Err((start, "a quoted value is not closed".into())),
                        },
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            value.push(c);
                        }
                    }
                }
                out.push((start, Token::Quoted(value)));
            }
            '{' | '}' | ';' | '=' => out.push((line, Token::Punct(c))),
            c if is_word_char(c) => {
                let mut word = String::from(c);
                while chars.peek().is_some_and(|&c| is_word_char(c)) {
                    word.extend(chars.next());
                }
                out.push((line, Token::Word(word)));
            }
            other => return Err((line, format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.at)
            .or(self.tokens.last())
            .map_or(1, |(line, _)| *line)
    }

    fn next(&mut self, what: &str) -> Result<Token, (usize, String)> {
        let line = self.line();
        let token = self
            .tokens
            .get(self.at)
            .map(|(_, t)| t.clone())
            .ok_or((line, format!("the file ends where {what} was expected")))?;
        self.at += 1;
        Ok(token)
    }

    fn word(&mut self, what: &str) -> Result<String, (usize, String)> {
        let line = self.line();
        match self.next(what)? {
            Token::Word(w) => Ok(w),
            other => Err((line, format!("expected {what}, found {}", describe(&other)))),
        }
    }

    fn punct(&mut self, c: char) -> Result<(), (usize, String)> {
        let line = self.line();
        match self.next(&format!("'{c}'"))? {
            Token::Punct(p) if p == c => Ok(()),
            other => Err((line, format!("expected '{c}', found {}", describe(&other)))),
        }
    }

    fn section(&mut self) -> Result<Section, (usize, String)> {
        let name = self.word("a section name")?;
        self.punct('{')?;
        let mut modules = Vec::new();
        while self.peek() != Some(&Token::Punct('}')) {
            modules.push(self.module()?);
        }
        self.punct('}')?;
        self.punct(';')?;
        Ok(Section { name, modules })
    }

    fn module(&mut self) -> Result<LoginModule, (usize, String)> {
        let class = self.word("a login module class")?;
        let line = self.line();
        let flag = self.word("a control flag")?.to_ascii_lowercase();
        if !matches!(
            flag.as_str(),
            "required" | "requisite" | "sufficient" | "optional"
        ) {
            return Err((
                line,
                format!("control flag {flag:?} is not required, requisite, sufficient or optional"),
            ));
        }
        let mut options: Vec<(String, String)> = Vec::new();
        while self.peek() != Some(&Token::Punct(';')) {
            let key = self.word("an option name or ';'")?;
            self.punct('=')?;
            let line = self.line();
            let value = match self.next("an option value")? {
                Token::Word(w) | Token::Quoted(w) => w,
                other => {
                    return Err((
                        line,
                        format!("expected the value of {key}, found {}", describe(&other)),
                    ));
                }
            };
            // Java keeps options in a map: a repeated key keeps its last value.
            options.retain(|(k, _)| *k != key);
            options.push((key, value));
        }
        self.punct(';')?;
        Ok(LoginModule {
            class,
            flag,
            options,
        })
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("{w:?}"),
        Token::Quoted(_) => "a quoted value".into(),
        Token::Punct(c) => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAZOO: &str = r#"
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};"#;

    #[test]
    fn kazoos_file() {
        let file = JaasFile::parse(KAZOO).unwrap();
        let server = file.section("Server").unwrap();
        assert_eq!(server.modules.len(), 1);
        let module = &server.modules[0];
        assert_eq!(
            module.class,
            "org.apache.zookeeper.server.auth.DigestLoginModule"
        );
        assert_eq!(module.flag, "required");
        assert_eq!(
            module.options,
            vec![
                ("user_super".to_string(), "super_secret".to_string()),
                ("user_jaasuser".to_string(), "jaas_password".to_string()),
            ]
        );
        // Passwords never show in debug output.
        assert!(!format!("{file:?}").contains("secret"));
    }

    #[test]
    fn several_sections_comments_and_bare_values() {
        let text = r#"
// The server's users.
Server {
  org.apache.zookeeper.server.auth.DigestLoginModule REQUIRED /* flags ignore case */
  user_a="with \"quote\""
  user_a=second
  debug=true;
  com.sun.security.auth.module.Krb5LoginModule optional keyTab="/etc/zk.keytab";
};
Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="u" password="p"; };
"#;
        let file = JaasFile::parse(text).unwrap();
        assert_eq!(
            file.sections
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["Server", "Client"]
        );
        let server = file.section("Server").unwrap();
        assert_eq!(server.modules[0].flag, "required");
        assert_eq!(
            server.modules[0].options,
            vec![
                ("user_a".to_string(), "second".to_string()),
                ("debug".to_string(), "true".to_string()),
            ]
        );
        assert_eq!(server.modules[1].options[0].1, "/etc/zk.keytab");
        assert!(file.section("server").is_none(), "names are case-sensitive");
        assert_eq!(JaasFile::parse("").unwrap(), JaasFile::default());
        assert_eq!(
            JaasFile::parse("  // nothing\n").unwrap(),
            JaasFile::default()
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let cases: [(&str, usize, &str); 6] = [
            ("Server {\n  M required user_a=\"x\"\n};", 3, "expected"),
            ("Server {\n  M mandatory;\n};", 2, "control flag"),
            ("Server {\n  M required user_a;\n};", 2, "expected '='"),
            ("Server {\n  M required user_a=\"open;\n};", 2, "not closed"),
            ("Server { M required; }", 1, "ends"),
            (
                "Server { M required; };\nServer { M required; };",
                2,
                "twice",
            ),
        ];
        for (text, line, fragment) in cases {
            let (got_line, message) = JaasFile::parse(text).unwrap_err();
            assert_eq!(got_line, line, "{text:?}: {message}");
            assert!(message.contains(fragment), "{text:?}: {message}");
        }
    }

    #[test]
    fn read_reports_a_missing_file_with_its_path() {
        let err = JaasFile::read(Path::new("/nonexistent/jaas.conf")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/jaas.conf"), "{err}");
        assert!(err.to_string().contains("--jaas-config"), "{err}");
    }
}
