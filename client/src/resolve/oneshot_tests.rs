use super::*;

/// Builds DNS messages the way responders do: names compressed against
/// earlier ones where they can be.
struct Msg {
    p: Vec<u8>,
    names: HashMap<String, usize>,
}

impl Msg {
    fn new(answers: u16, additionals: u16) -> Msg {
        let mut p = vec![0, 0, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p[6..8].copy_from_slice(&answers.to_be_bytes());
        p[10..12].copy_from_slice(&additionals.to_be_bytes());
        Msg {
            p,
            names: HashMap::new(),
        }
    }

    fn name(&mut self, name: &str) {
        let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
        for i in 0..labels.len() {
            let suffix = labels[i..].join(".");
            if let Some(&at) = self.names.get(&suffix) {
                self.p
                    .extend_from_slice(&(0xc000 | at as u16).to_be_bytes());
                return;
            }
            self.names.insert(suffix, self.p.len());
            self.p.push(labels[i].len() as u8);
            self.p.extend_from_slice(labels[i].as_bytes());
        }
        self.p.push(0);
    }

    fn record(&mut self, owner: &str, kind: u16, data: impl FnOnce(&mut Msg)) {
        self.name(owner);
        self.p.extend_from_slice(&kind.to_be_bytes());
        self.p.extend_from_slice(&[0x80, 1, 0, 0, 0x11, 0x94]);
        let len_at = self.p.len();
        self.p.extend_from_slice(&[0, 0]);
        data(self);
        let len = (self.p.len() - len_at - 2) as u16;
        self.p[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }
}

fn answer(instance: &str, fp: &str) -> Vec<u8> {
    let full = format!("{instance}.{SERVICE_TYPE}");
    let host = format!("{instance}-seriald.local.");
    let mut m = Msg::new(1, 3);
    m.record(SERVICE_TYPE, TYPE_PTR, |m| m.name(&full));
    m.record(&full, TYPE_SRV, |m| {
        m.p.extend_from_slice(&[0, 0, 0, 0, 0x53, 0x45]);
        m.name(&host);
    });
    m.record(&full, TYPE_TXT, |m| {
        for kv in [
            format!("name={instance}"),
            "zone=garage".to_string(),
            "proto=1".to_string(),
            "port=21317".to_string(),
            format!("key={fp}"),
        ] {
            m.p.push(kv.len() as u8);
            m.p.extend_from_slice(kv.as_bytes());
        }
    });
    m.record(&host, TYPE_A, |m| m.p.extend_from_slice(&[10, 1, 0, 4]));
    m.p
}

#[test]
fn an_answer_with_its_additionals_describes_the_agent() {
    let fp = format!("spki:{}", "0b".repeat(32));
    let agents = parse(&answer("g", &fp));
    assert_eq!(agents.len(), 1, "{agents:?}");
    let g = &agents[0];
    assert_eq!(g.name.as_deref(), Some("g"));
    assert_eq!(g.zone.as_deref(), Some("garage"));
    assert_eq!(g.addrs, vec!["10.1.0.4:21317".to_string()]);
    assert_eq!(g.fingerprint.map(|f| f.to_string()), Some(fp));
    assert_eq!(g.source, Source::Mdns);
    assert_eq!(g.fullname.as_deref(), Some("g._serialmesh._tcp.local."));
}

#[test]
fn broken_or_incomplete_answers_describe_nothing() {
    let good = answer("g", &format!("spki:{}", "0b".repeat(32)));
    for cut in [3, 12, 40, good.len() - 1] {
        assert!(parse(&good[..cut]).is_empty(), "cut at {cut}");
    }
    // A TXT without a usable key fingerprint, or with the certificate
    // fingerprint of the past where the key should be.
    assert!(parse(&answer("g", "not-hex")).is_empty());
    assert!(parse(&answer("g", &"0b".repeat(32))).is_empty());
    // A compression pointer to itself.
    let mut looped = Msg::new(1, 0).p;
    looped.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert!(parse(&looped).is_empty());
}

#[test]
fn the_question_asks_for_our_service_type() {
    let q = question();
    assert_eq!(&q[4..6], &[0, 1], "one question");
    assert_eq!(name(&q, 12).unwrap().0, SERVICE_TYPE);
    assert_eq!(&q[q.len() - 4..], &[0, TYPE_PTR as u8, 0, 1]);
}
