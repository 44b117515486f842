// `labyrinth record --flight-recorder SPEC` and `--trigger WHAT`.
#include <gtest/gtest.h>

#include "flight_options.hpp"

namespace labyrinth::cli {
namespace {

using ebpf::FlightTrigger;

TEST(FlightOptions, SpecTakesADurationASizeOrBoth) {
  ebpf::FlightOptions o;
  EXPECT_EQ(parse_flight_spec("2m", o), "");
  ASSERT_TRUE(o.window);
  EXPECT_EQ(*o.window, std::chrono::minutes(2));  // lower-case m: minutes
  EXPECT_EQ(o.ring_bytes, 64ull << 20);           // the default cap
  o = {};
  EXPECT_EQ(parse_flight_spec("256M", o), "");
  EXPECT_FALSE(o.window);
  EXPECT_EQ(o.ring_bytes, 256ull << 20);
  o = {};
  EXPECT_EQ(parse_flight_spec("90s,1G", o), "");
  EXPECT_EQ(*o.window, std::chrono::seconds(90));
  EXPECT_EQ(o.ring_bytes, 1ull << 30);
  for (const char* bad : {"", "0", "512K", "100G", "2x", "-1m", ","}) {
    ebpf::FlightOptions b;
    EXPECT_NE(parse_flight_spec(bad, b), "") << bad;
  }
}

TEST(FlightOptions, TriggersAndTheirFilters) {
  FlightTrigger t;
  EXPECT_EQ(parse_trigger("failure", t), "");
  EXPECT_EQ(t.kind, FlightTrigger::Kind::Failure);
  EXPECT_TRUE(t.classes.empty());
  EXPECT_EQ(parse_trigger("failure:atomic:costly:order>=4:gfp=__GFP_HIGH|__GFP_NOWARN", t), "");
  EXPECT_EQ(t.classes, (std::vector<traces::FailureClass>{traces::FailureClass::Atomic, traces::FailureClass::Costly}));
  EXPECT_EQ(t.min_order, 4u);
  EXPECT_EQ(t.gfp_flags, "__GFP_HIGH|__GFP_NOWARN");
  EXPECT_EQ(t.text, "failure:atomic:costly:order>=4:gfp=__GFP_HIGH|__GFP_NOWARN");
  EXPECT_EQ(parse_trigger("sigusr1", t), "");
  EXPECT_EQ(t.kind, FlightTrigger::Kind::Signal);
  EXPECT_EQ(parse_trigger("free<20000:Normal", t), "");
  EXPECT_EQ(t.kind, FlightTrigger::Kind::FreeBelow);
  EXPECT_EQ(t.free_pages, 20000u);
  EXPECT_EQ(t.zone, "Normal");
  for (const char* bad : {"", "oom", "failure:huge", "failure:order>=16", "failure:order>=x", "failure:gfp=",
                          "free<", "free<0", "free<10:a:b"}) {
    EXPECT_NE(parse_trigger(bad, t), "") << bad;
  }
  EXPECT_NE(parse_trigger("failure:huge", t).find("atomic"), std::string::npos);  // says what is accepted
}

}  // namespace
}  // namespace labyrinth::cli
