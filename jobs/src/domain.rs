//! Newtypes for the values people type: a company's e-mail domain and an e-mail address.
//! Built only through `parse`, so a `Domain` in hand is always lower-case and well formed.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("{0:?} is not an e-mail domain such as acme.com")]
    Domain(String),
    #[error("{0:?} is not an e-mail address")]
    Email(String),
}

/// A company's e-mail domain, e.g. `acme.com` (lower case, no trailing dot).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let value = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = value.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let tld_ok = labels
            .last()
            .is_some_and(|t| t.chars().any(|c| c.is_ascii_alphabetic()));
        if value.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
            return Err(ParseError::Domain(raw.to_owned()));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Domain {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Domain> for String {
    fn from(value: Domain) -> Self {
        value.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address as given (letter case kept); compare with [`Email::normalized`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let value = raw.trim();
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(ParseError::Email(raw.to_owned()));
        };
        if local.is_empty()
            || local.len() > 64
            || value.chars().any(char::is_whitespace)
            || Domain::parse(domain).is_err()
        {
            return Err(ParseError::Email(raw.to_owned()));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lower-cased, for case-insensitive matching.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    /// The domain part, lower-cased.
    pub fn domain(&self) -> Domain {
        let (_, domain) = self.0.rsplit_once('@').expect("checked in parse");
        Domain::parse(domain).expect("checked in parse")
    }
}

impl TryFrom<String> for Email {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for (raw, want) in [
            ("acme.com", "acme.com"),
            (" ACME.Com. ", "acme.com"),
            ("a-b.co.uk", "a-b.co.uk"),
        ] {
            assert_eq!(Domain::parse(raw).expect(raw).as_str(), want);
        }
        for bad in [
            "",
            "acme",
            "-acme.com",
            "acme-.com",
            "ac me.com",
            "acme..com",
            "acme.123",
            "a@b.com",
            "http://acme.com",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
        assert!(Domain::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn emails() {
        let email = Email::parse(" Ann.Lee@Acme.COM ").expect("valid");
        assert_eq!(email.as_str(), "Ann.Lee@Acme.COM");
        assert_eq!(email.normalized(), "ann.lee@acme.com");
        assert_eq!(email.domain().as_str(), "acme.com");
        for bad in ["", "ann", "@acme.com", "ann@", "ann@acme", "a b@acme.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
