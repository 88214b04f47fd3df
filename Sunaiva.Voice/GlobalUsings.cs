global using Sunaiva;
