//! Serial line settings as they travel on the wire and appear in config.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum DataBits {
    Five,
    Six,
    Seven,
    Eight,
}

impl TryFrom<u8> for DataBits {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            5 => Ok(Self::Five),
            6 => Ok(Self::Six),
            7 => Ok(Self::Seven),
            8 => Ok(Self::Eight),
            other => Err(format!("data_bits must be 5, 6, 7 or 8, not {other}")),
        }
    }
}

impl From<DataBits> for u8 {
    fn from(v: DataBits) -> u8 {
        match v {
            DataBits::Five => 5,
            DataBits::Six => 6,
            DataBits::Seven => 7,
            DataBits::Eight => 8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Odd,
    Even,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum StopBits {
    One,
    Two,
}

impl TryFrom<u8> for StopBits {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            other => Err(format!("stop_bits must be 1 or 2, not {other}")),
        }
    }
}

impl From<StopBits> for u8 {
    fn from(v: StopBits) -> u8 {
        match v {
            StopBits::One => 1,
            StopBits::Two => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    None,
    Software,
    Hardware,
}

/// Everything needed to open a serial line the way its device expects.
///
/// `dtr`/`rts` are the modem-line states asserted right after opening; `None`
/// leaves the driver's default (many sticks reset when DTR toggles, so the
/// profile decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSettings {
    pub baud: u32,
    pub data_bits: DataBits,
    pub parity: Parity,
    pub stop_bits: StopBits,
    pub flow_control: FlowControl,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rts: Option<bool>,
}

impl Default for LineSettings {
    /// 115200 8N1 without flow control: what Z-Wave and most Zigbee sticks use.
    fn default() -> Self {
        Self {
            baud: 115_200,
            data_bits: DataBits::Eight,
            parity: Parity::None,
            stop_bits: StopBits::One,
            flow_control: FlowControl::None,
            dtr: None,
            rts: None,
        }
    }
}

impl std::fmt::Display for LineSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parity = match self.parity {
            Parity::None => 'N',
            Parity::Odd => 'O',
            Parity::Even => 'E',
        };
        write!(
            f,
            "{} {}{}{}",
            self.baud,
            u8::from(self.data_bits),
            parity,
            u8::from(self.stop_bits)
        )?;
        match self.flow_control {
            FlowControl::None => Ok(()),
            FlowControl::Software => write!(f, " xon/xoff"),
            FlowControl::Hardware => write!(f, " rts/cts"),
        }
    }
}
