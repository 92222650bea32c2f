// Package labs holds the classroom labs of the lessons (docs/labs/README.md)
// and their checkers. Each lab is a directory NN-topic with a README, a
// skeleton the student fills in, and sometimes a solution; the checkers are
// the tests of this package:
//
//	sudo make lab LAB=02             check your copy (docs/labs/_work/02)
//	sudo make lab LAB=02 DIR=path    check the program in path
//
// TestLab runs one lab's checks on one program and prints PASS or FAIL for
// each, with a hint for each failure. TestCheckers proves every checker can
// tell: it passes on the lab's solution and fails on the untouched skeleton.
package labs
