/*
 * main.c - the `tresor` binary: the server (`tresor server`) and the
 * command-line client in one program. Everything happens in cli_main
 * (src/cli/commands.c).
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
