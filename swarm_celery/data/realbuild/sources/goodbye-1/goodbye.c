#include <stdio.h>

#include <greet.h>

int main(void)
{
	printf("goodbye: %s See you later.\n", greet("goodbye"));
	return 0;
}
