// lib/testing/main.cc - the CppUnit main shared by every unit-test program.
// Runs every registered suite (or those named on the command line) and ends with
// "PROGRAM: tests=N failures=M", which the test runner adds up.
#include <cppunit/BriefTestProgressListener.h>
#include <cppunit/CompilerOutputter.h>
#include <cppunit/TestResult.h>
#include <cppunit/TestResultCollector.h>
#include <cppunit/TestRunner.h>
#include <cppunit/extensions/TestFactoryRegistry.h>

#include <cstdio>
#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  CppUnit::TestResult controller;
  CppUnit::TestResultCollector collector;
  controller.addListener(&collector);
  CppUnit::BriefTestProgressListener progress;
  controller.addListener(&progress);

  CppUnit::TestRunner runner;
  CppUnit::Test* all = CppUnit::TestFactoryRegistry::getRegistry().makeTest();
  if (argc > 1) {
    for (int i = 1; i < argc; ++i) runner.addTest(all->findTest(argv[i]));
  } else {
    runner.addTest(all);
  }
  runner.run(controller);

  CppUnit::CompilerOutputter out(&collector, std::cerr);
  out.write();
  const char* prog = std::strrchr(argv[0], '/');
  prog = prog ? prog + 1 : argv[0];
  std::printf("%s: tests=%d failures=%d\n", prog, collector.runTests(),
              collector.testFailuresTotal());
  return collector.wasSuccessful() ? 0 : 1;
}
