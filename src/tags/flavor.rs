//! The `flavor` input (`latest=auto`, `prefix=v,onlatest=true`, `suffix=-alpine`) and the
//! `images` input (`ghcr.io/org/api` or `name=…,enable=false`).

use super::grammar::check_image_name;
use super::rule::csv_fields;
use crate::settings::InputError;

/// When to add `latest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Latest {
    /// For the highest-priority rule that implies it (semver/pep440 release, match, ref tag).
    #[default]
    Auto,
    /// Always.
    True,
    /// Never.
    False,
}

/// Parsed `flavor` input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flavor {
    /// `latest=`.
    pub latest: Latest,
    /// Global prefix for rules without their own.
    pub prefix: String,
    /// Also prefix `latest` (`prefix=…,onlatest=true`).
    pub prefix_latest: bool,
    /// Global suffix for rules without their own.
    pub suffix: String,
    /// Also suffix `latest`.
    pub suffix_latest: bool,
}

/// Parses the `flavor` lines.
pub fn parse_flavor(lines: &[String]) -> Result<Flavor, InputError> {
    let mut flavor = Flavor::default();
    for line in lines {
        let err = |rule: String| InputError::new("flavor", line, rule);
        let mut onlatest_for = "";
        for field in csv_fields(line).ok_or_else(|| err("has an unterminated quote".into()))? {
            let Some((key, value)) = field.split_once('=') else {
                return Err(err(format!("has `{}` without `=`; use key=value", field.trim())));
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "latest" => {
                    flavor.latest = match value {
                        "auto" => Latest::Auto,
                        "true" => Latest::True,
                        "false" => Latest::False,
                        _ => return Err(err(format!("has latest={value}; use auto, true or false"))),
                    }
                }
                "prefix" => {
                    flavor.prefix = value.to_owned();
                    onlatest_for = "prefix";
                }
                "suffix" => {
                    flavor.suffix = value.to_owned();
                    onlatest_for = "suffix";
                }
                "onlatest" => {
                    let on = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(err(format!("has onlatest={value}; use true or false"))),
                    };
                    match onlatest_for {
                        "prefix" => flavor.prefix_latest = on,
                        "suffix" => flavor.suffix_latest = on,
                        _ => {}
                    }
                }
                other => {
                    return Err(err(format!(
                        "has unknown entry `{other}`; use latest, prefix, suffix, onlatest"
                    )));
                }
            }
        }
    }
    Ok(flavor)
}

/// Parses the `images` lines into the enabled image names, lower-cased (as metadata-action
/// does: `ghcr.io/${{ github.repository }}` often has capitals) and validated.
pub fn parse_images(lines: &[String]) -> Result<Vec<String>, InputError> {
    let mut images: Vec<(String, bool, &String)> = Vec::new();
    // metadata-action's old format: a single line of comma-separated names.
    let single = match lines {
        [line] => csv_fields(line).filter(|f| f.iter().all(|f| !f.contains('='))),
        _ => None,
    };
    if let Some(names) = single {
        images.extend(names.into_iter().map(|n| (n.trim().to_lowercase(), true, &lines[0])));
    } else {
        for line in lines {
            let err = |rule: String| InputError::new("images", line, rule);
            let (mut name, mut enable) = (String::new(), true);
            for field in csv_fields(line).ok_or_else(|| err("has an unterminated quote".into()))? {
                match field.split_once('=') {
                    None => name = field.trim().to_lowercase(),
                    Some((k, v)) => match (k.trim().to_ascii_lowercase().as_str(), v.trim()) {
                        ("name", v) => name = v.to_lowercase(),
                        ("enable", "true") => enable = true,
                        ("enable", "false") => enable = false,
                        ("enable", v) => return Err(err(format!("has enable={v}; use true or false"))),
                        (k, _) => return Err(err(format!("has unknown attribute `{k}`; use name, enable"))),
                    },
                }
            }
            if name.is_empty() {
                return Err(err("has no image name".into()));
            }
            images.push((name, enable, line));
        }
    }
    let mut names = Vec::new();
    for (name, enable, line) in images {
        check_image_name(&name).map_err(|rule| {
            let value =
                if name == line.to_lowercase() { line.clone() } else { format!("{name} (in {line})") };
            InputError::new("images", value, rule)
        })?;
        if enable && !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flavors() {
        let f = parse_flavor(&v(&["latest=false", "prefix=v,onlatest=true", "suffix=-alpine"])).unwrap();
        assert_eq!(f.latest, Latest::False);
        assert!(f.prefix_latest && !f.suffix_latest);
        assert_eq!(f.suffix, "-alpine");
        assert!(parse_flavor(&v(&["latest=maybe"])).unwrap_err().rule.contains("latest=maybe"));
        assert!(parse_flavor(&v(&["foo=bar"])).unwrap_err().rule.contains("unknown entry"));
        assert!(parse_flavor(&v(&["prefix"])).is_err());
    }

    #[test]
    fn images() {
        assert_eq!(
            parse_images(&v(&["user/app,ghcr.io/user/app"])).unwrap(),
            ["user/app", "ghcr.io/user/app"]
        );
        assert_eq!(parse_images(&v(&["name=a/b,enable=false", "c/d"])).unwrap(), ["c/d"]);
        assert!(parse_images(&v(&["name=a/b,enable=no"])).is_err());
        assert!(parse_images(&v(&["name=a/b,foo=x"])).is_err());
        assert_eq!(parse_images(&v(&["ghcr.io/MyUSER/MyApp"])).unwrap(), ["ghcr.io/myuser/myapp"]);
        assert!(parse_images(&v(&["ghcr.io//app"])).unwrap_err().rule.contains("not a valid image name"));
    }
}
