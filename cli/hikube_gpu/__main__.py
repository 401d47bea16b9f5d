from hikube_gpu.commands import main

main()
