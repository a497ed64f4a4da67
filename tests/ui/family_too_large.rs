use mmstats::{Counter, Family, Labels, MmStats};

macro_rules! hundred {
    ($name:ident, $key:literal) => {
        #[derive(Labels, Clone, Copy)]
        #[mmstats(key = $key)]
        #[rustfmt::skip]
        enum $name {
            V00, V01, V02, V03, V04, V05, V06, V07, V08, V09,
            V10, V11, V12, V13, V14, V15, V16, V17, V18, V19,
            V20, V21, V22, V23, V24, V25, V26, V27, V28, V29,
            V30, V31, V32, V33, V34, V35, V36, V37, V38, V39,
            V40, V41, V42, V43, V44, V45, V46, V47, V48, V49,
            V50, V51, V52, V53, V54, V55, V56, V57, V58, V59,
            V60, V61, V62, V63, V64, V65, V66, V67, V68, V69,
            V70, V71, V72, V73, V74, V75, V76, V77, V78, V79,
            V80, V81, V82, V83, V84, V85, V86, V87, V88, V89,
            V90, V91, V92, V93, V94, V95, V96, V97, V98, V99,
        }
    };
}

hundred!(Tenant, "tenant");
hundred!(Route, "route");
hundred!(Region, "region");

#[derive(MmStats)]
struct Stats {
    // 100 x 100 x 100 members: a million fields.
    requests: Family<(Tenant, Route, Region), Counter>,
}

fn main() {}
